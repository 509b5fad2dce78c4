// Package dataset builds training sets of galaxy images for the score model: synthetic
// galaxies from scorelens/lens/galaxy, or real stamps from a folder of FITS images, a FITS
// cube, or the GalSim RealGalaxyCatalog layout of the public COSMOS training samples.
//
// Real stamps are prepared by Prepare: rejected if they hold NaN or infinite pixels or
// cover less sky than the output; optionally cleaned of neighbours (the image is segmented
// above a threshold of 3σ of its background, estimated from the median absolute deviation,
// and every component but the one at the centre is set to zero); centred on the light (the
// flux-weighted centroid of the kept pixels); cut, padded and resampled onto N×N pixels at
// the chosen pixel scale by exact overlap of the pixel squares, which conserves flux; and
// normalised (per-image peak to 1, total flux to 1, or none). The normalisation and each
// image's factor are stored with the set.
//
// Normalisation of the paper's reference: Adam et al. 2022 say they used "the data
// normalization scheme described in sec. 3.1 of Smith et al."; the text of Smith et al.
// 2022 §3.1 could not be retrieved from the sources available while writing this, so the
// default here, per-image peak, is this package's choice, not a reproduction of theirs.
//
// A set is written as one FITS file: the image cube (EXTNAME IMAGES, NAXIS3 = count) with
// a header recording ORIGIN, NPIX, PIXSCALE (arcsec), NORM, COUNT, SEED and VERSION, then a
// table (SOURCES) with one row per image: its name, its normalisation factor and, for
// synthetic sets, the parameters of the galaxy.
package dataset
