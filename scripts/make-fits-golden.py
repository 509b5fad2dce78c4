#!/usr/bin/env python3
"""Writes the astropy-made FITS files that lens/fitsimg's tests read back.

Each file holds a 5x4 image whose physical value at (i, j) is 10*j + i - 7 (i the column,
j the row), stored with a different BITPIX, and for integer types with BSCALE/BZERO so that
the reader has to apply them; plus a binary table with a few column types. Run from the
repository root with astropy installed:  python3 scripts/make-fits-golden.py
"""
import numpy as np
from astropy.io import fits

out = "lens/fitsimg/testdata"
j, i = np.mgrid[0:4, 0:5]
phys = (10.0 * j + i - 7.0)

for bitpix, dtype, bscale, bzero in [
    (8, np.uint8, 0.5, -7.0),
    (16, np.int16, 0.25, 3.0),
    (32, np.int32, 2.0 ** -10, -100.0),
    (64, np.int64, 1.0, 0.0),
    (-32, np.float32, None, None),
    (-64, np.float64, None, None),
]:
    if bscale is None:
        data = phys.astype(dtype)
        hdu = fits.PrimaryHDU(data)
    else:
        raw = np.round((phys - bzero) / bscale).astype(dtype)
        hdu = fits.PrimaryHDU(raw)
        hdu.header["BSCALE"] = bscale
        hdu.header["BZERO"] = bzero
    hdu.header["EXTNAME"] = "IMG"
    hdu.header["PIXSCALE"] = (0.05, "arcsec")
    hdu.header["OBJECT"] = "golden"
    # Write the raw integers untouched: astropy must not rescale them.
    fits.HDUList([hdu]).writeto(f"{out}/astropy-bitpix{bitpix}.fits", overwrite=True, output_verify="exception")

cube = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)
t = fits.BinTableHDU.from_columns([
    fits.Column(name="IDENT", format="K", array=np.array([101, 202, 303])),
    fits.Column(name="GAL_FILENAME", format="20A", array=np.array(["a.fits", "bb.fits", "ccc.fits"])),
    fits.Column(name="GAL_HDU", format="J", array=np.array([0, 1, 2], dtype=np.int32)),
    fits.Column(name="MAG", format="E", array=np.array([21.5, 22.25, 23.0], dtype=np.float32)),
    fits.Column(name="PIXEL_SCALE", format="D", array=np.array([0.03, 0.03, 0.03])),
], name="CATALOG")
fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(cube, name="CUBE"), t]).writeto(
    f"{out}/astropy-cube-table.fits", overwrite=True, output_verify="exception")
