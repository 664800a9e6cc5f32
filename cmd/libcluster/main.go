// Command libcluster runs a cluster node from a config file, explains what
// discovery finds, serves EPMD, and demonstrates a cluster forming and
// healing on one machine.
//
//	libcluster run --config cluster.yaml     run a node until SIGINT/SIGTERM
//	libcluster demo                           N local nodes converge, lose one, heal
//	libcluster explain --config cluster.yaml  what each topology discovers, and why
//	libcluster members --http 127.0.0.1:4000  a running node's membership
//	libcluster epmd                           a standalone EPMD
//	libcluster version                        the module version
//
// Every command takes --help.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/libcluster-go/libcluster/strategy"
	_ "github.com/libcluster-go/libcluster/strategy/install" // every strategy a config file may name
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

var commands = []command{
	{"run", "run a node with the topologies of a config file", cmdRun},
	{"demo", "start local nodes, show them converge, lose one and heal", cmdDemo},
	{"bench", "measure memberlist convergence, detection and healing at scale", cmdBench},
	{"explain", "show what each topology discovers and what would be connected", cmdExplain},
	{"members", "print a running node's membership (GET /members)", cmdMembers},
	{"epmd", "run a standalone EPMD (Erlang port mapper daemon)", cmdEPMD},
	{"version", "print the version", cmdVersion},
}

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed
	exitUsage   = 2 // bad flags or config
)

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "libcluster: unknown command %q", args[0])
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	if s := nearest(args[0], names); s != "" {
		fmt.Fprintf(stderr, "; did you mean %q?", s)
	}
	fmt.Fprintf(stderr, " (commands: %s)\n", strings.Join(names, ", "))
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: libcluster <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'libcluster <command> --help' for a command's flags.")
}

// newFlags returns a flag set whose --help prints the command's synopsis
// and flags.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("libcluster "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: libcluster %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; done is true when the command should return
// code at once (--help, a bad flag, stray arguments).
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) (code int, done bool) {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stdout)
		fs.Usage()
		return exitOK, true
	}
	if err != nil {
		return exitUsage, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q; see --help\n", fs.Name(), fs.Arg(0))
		return exitUsage, true
	}
	return 0, false
}

// logFlags are the logging flags shared by long-running commands.
type logFlags struct {
	format, level string
}

func (l *logFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&l.format, "log-format", "text", "log format: text or json")
	fs.StringVar(&l.level, "log-level", "info", "least severe level logged: debug, info, warn or error")
}

// parseLogged adds the log flags to fs, parses args and builds the
// logger on stderr; level, when set, replaces the --log-level value. done
// is true when the command should return code at once (--help, a bad flag
// or log flag).
func parseLogged(fs *flag.FlagSet, args []string, stdout, stderr io.Writer, level string) (log *slog.Logger, code int, done bool) {
	var lf logFlags
	lf.add(fs)
	if code, done := parseFlags(fs, args, stdout); done {
		return nil, code, true
	}
	if level != "" {
		lf.level = level
	}
	log, err := lf.logger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", fs.Name(), err)
		return nil, exitUsage, true
	}
	return log, 0, false
}

func (l *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(l.level)); err != nil {
		return nil, fmt.Errorf("invalid --log-level %q; want debug, info, warn or error", l.level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch l.format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("invalid --log-format %q; want text or json", l.format)
}

func nearest(s string, cands []string) string {
	// Commands are few and short: a shared prefix or one edit is a typo.
	for _, c := range cands {
		if strings.HasPrefix(c, s) && len(s) >= 2 {
			return c
		}
	}
	return strategy.Nearest(s, cands)
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
