// Package morph measures the standard non-parametric morphology of galaxy images and
// compares two sets of images through the distributions of those measures.
//
// Statistics (Measure), in pixels and the image's own units:
//
//   - Flux: the sum of the pixels.
//   - R20, R50, R80: radii of circular apertures about the flux centroid holding 20, 50 and
//     80 per cent of the total flux, the total being the flux in the stamp (stamps are cut
//     around one galaxy; Conselice's 1.5 Petrosian-radius aperture matters in crowded
//     fields, not here). The curve of growth spreads each pixel's light over 5×5 sub-pixels.
//   - C = 5 log10(R80/R20) (Bershady et al. 2000; Conselice 2003).
//   - A = min over centres of Σ|I − I₁₈₀| / Σ|I| (Conselice et al. 2000), the image rotated by
//     180° about centres on a half-pixel grid within 4 pixels of the centroid (rotation on
//     that grid maps pixels onto pixels, so nothing is interpolated), summed over the pixels
//     whose partner lies in the stamp. No background term: the images are noise-free, or
//     their noise is part of what is compared (CompareFiles can zero the pixels below a
//     fraction of each image's peak first, for sets with noise or residual backgrounds).
//   - Gini and M20 (Lotz, Primack & Madau 2004) over the pixels of the Petrosian
//     segmentation map: pixels brighter than the mean surface brightness in the annulus at
//     the Petrosian radius (η = 0.2) and within 1.5 Petrosian radii. M20 is taken about the
//     centre that minimises the total second moment (the centroid of the map).
//   - Ellip = 1 − b/a from the flux-weighted second moments of the positive pixels.
//   - PSSlope, PSHigh: the azimuthally averaged power spectrum P(k) of the image (k in cycles
//     per stamp), summarised by the least-squares slope of log P against log k over
//     2 ≤ k ≤ n/4, and log10 of the fraction of the non-constant power at k > n/8.
//
// Distance compares a set with a reference set statistic by statistic: the 1-D Wasserstein
// distance W1 between the two empirical distributions divided by the reference set's
// standard deviation of that statistic, so that a shift of the whole distribution by one
// standard deviation reads 1.
package morph
