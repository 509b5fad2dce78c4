package lens

import "math"

// Point is a position in arcsec.
type Point struct{ X, Y float64 }

// CriticalCurves returns the critical curves of d inside grid g (arcsec): the zero contours
// of det(∂β/∂θ) = (1 − ∂αx/∂x)(1 − ∂αy/∂y) − ∂αx/∂y·∂αy/∂x, with derivatives by central
// differences of step g.Scale/4 and contours by marching squares on the pixel centres of g.
// The curves are polylines; closed curves repeat their first point at the end.
func CriticalCurves(d Deflector, g Grid) [][]Point {
	n := g.N
	h := g.Scale / 4
	det := make([]float64, n*n)
	for j := 0; j < n; j++ {
		for i := 0; i < n; i++ {
			x, y := g.X(i), g.Y(j)
			axp, ayp := d.Deflection(x+h, y)
			axm, aym := d.Deflection(x-h, y)
			bxp, byp := d.Deflection(x, y+h)
			bxm, bym := d.Deflection(x, y-h)
			axx, ayx := (axp-axm)/(2*h), (ayp-aym)/(2*h)
			axy, ayy := (bxp-bxm)/(2*h), (byp-bym)/(2*h)
			det[j*n+i] = (1-axx)*(1-ayy) - axy*ayx
		}
	}
	return contour(det, g)
}

// Caustics maps critical curves to the source plane through the lens equation β = θ − α(θ).
func Caustics(d Deflector, critical [][]Point) [][]Point {
	out := make([][]Point, len(critical))
	for k, c := range critical {
		out[k] = make([]Point, len(c))
		for i, p := range c {
			bx, by := Trace(d, p.X, p.Y)
			out[k][i] = Point{bx, by}
		}
	}
	return out
}

// contour returns the zero contours of f sampled at the pixel centres of g, chained into
// polylines. A crossing is identified by the grid edge it lies on, so that the segments of
// neighbouring cells join exactly.
func contour(f []float64, g Grid) [][]Point {
	n := g.N
	// Edge ids: horizontal edge (i,j)-(i+1,j) is 2*(j*n+i), vertical (i,j)-(i,j+1) is 2*(j*n+i)+1.
	cross := func(e int) (Point, bool) {
		k := e / 2
		i, j := k%n, k/n
		i2, j2 := i+1, j
		if e%2 == 1 {
			i2, j2 = i, j+1
		}
		if i2 >= n || j2 >= n {
			return Point{}, false
		}
		a, b := f[j*n+i], f[j2*n+i2]
		// A sign change between values of magnitude ≥ 1 straddles the singular centre of an
		// isothermal lens (det J → −∞ there), not a critical curve, near which det J is small.
		if (a < 0) == (b < 0) || math.Abs(a) >= 1 || math.Abs(b) >= 1 {
			return Point{}, false
		}
		s := a / (a - b)
		return Point{g.X(i) + s*(g.X(i2)-g.X(i)), g.Y(j) + s*(g.Y(j2)-g.Y(j))}, true
	}
	adj := map[int][]int{}
	pts := map[int]Point{}
	for j := 0; j+1 < n; j++ {
		for i := 0; i+1 < n; i++ {
			edges := [4]int{2 * (j*n + i), 2*(j*n+i+1) + 1, 2 * ((j+1)*n + i), 2*(j*n+i) + 1} // bottom, right, top, left
			var hit []int
			for _, e := range edges {
				if p, ok := cross(e); ok {
					pts[e] = p
					hit = append(hit, e)
				}
			}
			// Two crossings join; four (a saddle) pair up in order around the cell.
			for k := 0; k+1 < len(hit); k += 2 {
				adj[hit[k]] = append(adj[hit[k]], hit[k+1])
				adj[hit[k+1]] = append(adj[hit[k+1]], hit[k])
			}
		}
	}
	seen := map[int]bool{}
	var curves [][]Point
	walk := func(start int) []Point {
		line := []Point{pts[start]}
		seen[start] = true
		prev, cur := -1, start
		for {
			next := -1
			for _, e := range adj[cur] {
				if e != prev && !seen[e] {
					next = e
					break
				}
			}
			if next < 0 {
				// Close the loop when the walk came back next to its start.
				for _, e := range adj[cur] {
					if e == start && prev != start && len(line) > 2 {
						line = append(line, pts[start])
					}
				}
				return line
			}
			seen[next] = true
			line = append(line, pts[next])
			prev, cur = cur, next
		}
	}
	// Open curves first (start at an end, degree 1), then closed loops.
	for e, nb := range adj {
		if len(nb) == 1 && !seen[e] {
			curves = append(curves, walk(e))
		}
	}
	for e := range adj {
		if !seen[e] {
			curves = append(curves, walk(e))
		}
	}
	return curves
}
