package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"scorelens/lens"
)

func init() {
	register(&cli.Command{
		Name:      "operator",
		Usage:     "write the forward operator A of a lens file as a FITS table (ROW, COL, VAL)",
		UsageText: "scorelens operator --lens lens.json --out A.fits [--summary]",
		Description: "Writes the sparse matrix A (y = A x) as the binary table A with 0-based columns ROW\n" +
			"(image pixel j*no+i), COL (source pixel) and VAL, and header keys NOBS = no², NSRC = ns².\n" +
			"In Python: scipy.sparse.coo_matrix((VAL, (ROW, COL)), shape=(NOBS, NSRC)).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "lens", Usage: "lens configuration `FILE` (JSON, SPEC §4)", Required: true},
			&cli.StringFlag{Name: "out", Usage: "`FILE` to write (FITS)", Required: true},
			&cli.BoolFlag{Name: "summary", Usage: "also print how far A Aᵀ is from the identity (the paper's assumption)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("operator: unexpected argument %q", c.Args().First())
			}
			a, err := lens.OperatorFile(c.Context, c.String("lens"), c.String("out"), version)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "wrote %s: A is %d×%d with %d non-zero entries\n", c.String("out"), a.Rows(), a.Cols(), a.NNZ())
			if c.Bool("summary") {
				fmt.Fprintln(c.App.Writer, a.AATSummary())
			}
			return nil
		},
	})
}
