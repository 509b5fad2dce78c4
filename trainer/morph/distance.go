package morph

import (
	"context"
	"fmt"
	"io"
	"math"
	"runtime"
	"sort"
	"sync"
	"text/tabwriter"
)

// MeasureAll measures every image of a set (n×n each) on GOMAXPROCS goroutines.
func MeasureAll(ctx context.Context, imgs [][]float64, n int) ([]Stats, error) {
	out := make([]Stats, len(imgs))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = Measure(imgs[i], n)
			}
		}()
	}
	var err error
	for i := range imgs {
		if err = ctx.Err(); err != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return out, err
}

// Row compares one statistic of a set with the reference set.
type Row struct {
	Name           string
	RefMedian      float64
	Median         float64
	W1             float64 // 1-D Wasserstein distance between the two distributions
	RefStd         float64 // standard deviation over the reference set
	D              float64 // W1 / RefStd (W1 itself where RefStd is 0 and W1 is 0, else +Inf)
	RefNaN, NaN    int     // images for which the statistic is undefined (left out)
	RefUsed, Other int     // images used
}

// Distance compares set with ref statistic by statistic (Names order).
func Distance(ref, set []Stats) []Row {
	rows := make([]Row, len(Names))
	for k, name := range Names {
		a, an := column(ref, k)
		b, bn := column(set, k)
		r := Row{Name: name, RefNaN: an, NaN: bn, RefUsed: len(a), Other: len(b)}
		r.RefMedian, r.Median = median(a), median(b)
		r.W1 = Wasserstein1(a, b)
		r.RefStd = std(a)
		switch {
		case r.RefStd > 0:
			r.D = r.W1 / r.RefStd
		case r.W1 == 0:
			r.D = 0
		default:
			r.D = math.Inf(1)
		}
		rows[k] = r
	}
	return rows
}

// MeanD is the mean of the finite normalised distances of rows.
func MeanD(rows []Row) float64 {
	var s float64
	var m int
	for _, r := range rows {
		if !math.IsInf(r.D, 0) && !math.IsNaN(r.D) {
			s += r.D
			m++
		}
	}
	if m == 0 {
		return math.NaN()
	}
	return s / float64(m)
}

// WriteTable prints rows as an aligned table.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "statistic\tmedian A\tmedian B\tW1\tstd A\tW1/std A\tundefined A/B\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%.4g\t%.4g\t%.4g\t%.4g\t%.3f\t%d/%d\t\n", r.Name, r.RefMedian, r.Median, r.W1, r.RefStd, r.D, r.RefNaN, r.NaN)
	}
	fmt.Fprintf(tw, "mean\t\t\t\t\t%.3f\t\t\n", MeanD(rows))
	return tw.Flush()
}

func column(s []Stats, k int) ([]float64, int) {
	var v []float64
	nan := 0
	for _, st := range s {
		x := st.Values()[k]
		if math.IsNaN(x) || math.IsInf(x, 0) {
			nan++
			continue
		}
		v = append(v, x)
	}
	return v, nan
}

// Wasserstein1 is ∫|F_a − F_b| dx between the empirical distributions of a and b
// (NaN where either is empty).
func Wasserstein1(a, b []float64) float64 {
	if len(a) == 0 || len(b) == 0 {
		return math.NaN()
	}
	x := append([]float64(nil), a...)
	y := append([]float64(nil), b...)
	sort.Float64s(x)
	sort.Float64s(y)
	var d float64
	i, j := 0, 0
	prev := math.Min(x[0], y[0])
	for i < len(x) || j < len(y) {
		var v float64
		switch {
		case j >= len(y) || (i < len(x) && x[i] <= y[j]):
			v = x[i]
		default:
			v = y[j]
		}
		fa := float64(i) / float64(len(x))
		fb := float64(j) / float64(len(y))
		d += math.Abs(fa-fb) * (v - prev)
		prev = v
		for i < len(x) && x[i] == v {
			i++
		}
		for j < len(y) && y[j] == v {
			j++
		}
	}
	return d
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func std(v []float64) float64 {
	if len(v) < 2 {
		return 0
	}
	var m float64
	for _, x := range v {
		m += x
	}
	m /= float64(len(v))
	var s float64
	for _, x := range v {
		s += (x - m) * (x - m)
	}
	return math.Sqrt(s / float64(len(v)-1))
}
