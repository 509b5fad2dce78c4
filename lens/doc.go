// Package lens is the forward model of scorelens: pixel grids, the lens mass models
// (singular isothermal ellipsoid, external shear, tabulated deflection maps), ray tracing,
// the sparse linear operator A that maps a pixelated source to the observed image, the PSF,
// noise and masks, the lens-configuration JSON file, observation files and simulation.
//
// Conventions (SPEC §2–§5):
//
//   - All angles are arcseconds. A square grid of n pixels a side with pixel scale s
//     centred at (cx, cy) has pixel centres x_i = cx + (i − (n−1)/2)·s and
//     y_j = cy + (j − (n−1)/2)·s; i is the column (FITS NAXIS1, +x), j the row
//     (NAXIS2, +y), and images are row-major in memory, data[j*n+i].
//   - Position angles are degrees, counter-clockwise from +x.
//   - The lens equation is β = θ − α(θ) with the deflections of all components added.
//   - The image of a source x is y = A x: rays are traced through the centres of the k×k
//     sub-pixels of each image pixel, the source surface brightness is interpolated
//     bilinearly between source pixel centres (zero beyond the grid), the k×k rays of a
//     pixel are averaged, and the result is convolved with the PSF at the observed
//     resolution (odd kernel, sum 1, zero padding, same size).
//
// Surface brightness is in arbitrary units per pixel area; A conserves surface brightness,
// so a uniform source that covers every traced ray maps to the same uniform image.
package lens
