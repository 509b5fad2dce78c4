// Package figure draws the PNG figures of scorelens with gonum/plot: image panels with
// axes in arcseconds and colour bars, grids of stamps, and the composite figures built from
// them (an observation preview, the paper's figure 1, sample grids).
//
// Images are n×n, row-major with row j = 0 at the bottom (+y up), as everywhere in
// scorelens. Files are written atomically.
package figure
