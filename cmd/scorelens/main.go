// Command scorelens draws posterior samples of the source galaxy behind a strong
// gravitational lens with a score-based prior. Each subcommand lives in its own file,
// parses its flags and calls one package function.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

// version is the software version written into every FITS header; set at build time with
// -ldflags "-X main.version=...".
var version = "0.1.0-dev"

var commands []*cli.Command

// register adds a subcommand; each command file calls it from init. A mistyped flag is one
// line naming the command, as every other error is, without the help text on stdout
// (urfave/cli prints it for a command without its own OnUsageError).
func register(c *cli.Command) {
	if c.OnUsageError == nil {
		c.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
			return fmt.Errorf("%s: %w (see scorelens %s --help)", c.Name, err, c.Name)
		}
	}
	commands = append(commands, c)
}

func newApp() *cli.App {
	sort.Slice(commands, func(i, j int) bool { return commands[i].Name < commands[j].Name })
	return &cli.App{
		Name:                 "scorelens",
		Usage:                "posterior samples of lensed source galaxies with score-based priors",
		Version:              version,
		Commands:             commands,
		EnableBashCompletion: true,
		// Errors are printed once, by main, as one line.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return fmt.Errorf("%s: %w", c.Command.FullName(), err)
		},
	}
}

func main() {
	os.Exit(run(os.Args))
}

// run executes the CLI and converts every failure, panics included, into one line on
// stderr and a non-zero exit status.
func run(args []string) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "scorelens: internal error: %v\n", r)
			code = 2
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := newApp()
	if err := app.RunContext(ctx, flagsFirst(app, args)); err != nil {
		fmt.Fprintf(os.Stderr, "scorelens: %v\n", oneLine(err.Error()))
		return 1
	}
	return 0
}

// oneLine folds a multi-line message so that every error is a single line.
func oneLine(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\n' || c == '\r' {
			b[i] = ' '
		}
	}
	return string(b)
}

// flagsFirst moves a subcommand's flags in front of its positional arguments, so that
// `scorelens plot post.fits --obs obs.fits` works as users write it: urfave/cli stops
// parsing flags at the first positional argument. Arguments after "--" stay positional.
func flagsFirst(app *cli.App, args []string) []string {
	if len(args) < 3 {
		return args
	}
	cmd := app.Command(args[1])
	if cmd == nil {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, name := range f.Names() {
			takesValue[name] = !isBool
		}
	}
	var flags, pos []string
	rest := args[2:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			pos = append(pos, rest[i+1:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' {
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && takesValue[name] && i+1 < len(rest) {
				flags = append(flags, rest[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	out := append([]string{args[0], args[1]}, flags...)
	if len(pos) > 0 {
		out = append(out, "--")
		out = append(out, pos...)
	}
	return out
}
