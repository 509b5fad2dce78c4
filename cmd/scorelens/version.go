package main

import (
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"
)

func init() {
	register(&cli.Command{
		Name:  "version",
		Usage: "print the software version",
		Action: func(c *cli.Context) error {
			fmt.Fprintf(c.App.Writer, "scorelens %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	})
}
