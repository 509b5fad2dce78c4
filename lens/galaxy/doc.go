// Package galaxy renders synthetic galaxy images: the built-in example sources of the
// project, random galaxies for training sets, and out-of-distribution shapes (a "7", a ring)
// for the paper's figure 2.
//
// A galaxy is described by Params (its type and the numbers drawn for it) and rendered
// deterministically from them, so a data set can record what it holds and any member can be
// re-rendered. Images are n×n, row-major (data[j*n+i]), with row j increasing towards +y
// (the FITS convention). Lengths in Params are in units of the stamp's half-width: the
// stamp spans [-1, 1] in both axes, whatever its pixel count or pixel scale, so a galaxy
// keeps the same shape at every resolution.
//
// Rendering integrates the surface brightness over each pixel by recursive subdivision:
// four samples per cell, split where they disagree (steep Sérsic cores, sharp knots), so
// the cores of compact bulges are not aliased.
//
// The package does not import scorelens/lens (which imports it).
package galaxy
