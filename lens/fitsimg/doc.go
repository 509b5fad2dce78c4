// Package fitsimg reads and writes the FITS files of scorelens: 2-D images, 3-D cubes and
// binary tables, with header cards, on top of github.com/astrogo/fitsio.
//
// Images are held as float64 in FITS order: the first axis (NAXIS1, the image width, +x) is
// the fastest, so pixel (i, j) of plane k of a cube of width nx and height ny is
// Data[(k*ny+j)*nx+i]. Reading accepts BITPIX 8, 16, 32, 64, -32 and -64 (big-endian, as FITS
// is) and applies BSCALE and BZERO, which fitsio leaves to the caller. Writing uses
// BITPIX -32 unless an image asks for another.
//
// A file is validated before it is decoded, so that corrupt, truncated or non-image input
// yields an error naming the file and the HDU instead of a panic or a huge allocation.
// Files are written atomically: to a temporary file in the same directory, synced, then
// renamed over the destination, so a reader never sees a half-written file and a failed write
// leaves an existing file untouched.
package fitsimg
