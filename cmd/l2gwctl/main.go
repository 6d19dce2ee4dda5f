// Command l2gwctl is the command-line client of l2gwd's HTTP API v1. It
// lists, shows, creates, updates and deletes networks, remote gateways,
// connections and remote MAC bindings, and shows the daemon's status, as
// aligned tables or as the server's JSON. It keeps no state of its own.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
)

// defaultAPI is the API address l2gwd listens on by default.
const defaultAPI = "http://127.0.0.1:8080"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one l2gwctl command line and returns its exit status: 0 on
// success, 1 when the API call fails, 2 when the command line is wrong.
func run(args []string, stdout, stderr io.Writer) int {
	c := &cli{stdout: stdout, stderr: stderr}
	return c.run(args)
}

// cli is one invocation: its global settings and where it writes.
type cli struct {
	api       string // base URL of the API
	output    string // "table", "json" or "yaml"
	tokenFile string // file holding the bearer token
	ca        string // CA bundle that verifies an https:// API
	cert, key string // client certificate and key for an https:// API
	stdout    io.Writer
	stderr    io.Writer

	http  *http.Client // set by connect
	token string       // bearer token to send, if any; set by connect
}

// run parses args, sends the request they describe and prints the answer.
func (c *cli) run(args []string) int {
	c.api = defaultAPI
	if env := os.Getenv("L2GW_API"); env != "" {
		c.api = env
	}
	c.output = "table"
	c.tokenFile = os.Getenv("L2GW_TOKEN_FILE")
	c.ca = os.Getenv("L2GW_CA")
	c.cert = os.Getenv("L2GW_CERT")
	c.key = os.Getenv("L2GW_KEY")
	fs := c.flagSet("l2gwctl")
	if err := fs.Parse(args); err != nil {
		return c.fail(nil, err)
	}
	args = fs.Args()
	if len(args) == 0 {
		return c.fail(nil, errors.New("missing resource"))
	}
	if isHelp(args[0]) {
		return c.fail(nil, flag.ErrHelp)
	}
	i := slices.IndexFunc(resources, func(r resource) bool { return r.name == args[0] })
	if i < 0 {
		return c.fail(nil, fmt.Errorf("unknown resource %q", args[0]))
	}
	res := &resources[i]
	req, err := c.parse(res, args[1:])
	if err != nil {
		return c.fail(res, err)
	}
	if err := c.connect(); err != nil {
		fmt.Fprintf(c.stderr, "error: %v\n", err)
		return 2
	}
	if err := c.do(req); err != nil {
		if !errors.Is(err, errFlowsDiffer) {
			fmt.Fprintf(c.stderr, "error: %v\n", err)
		}
		return 1
	}
	return 0
}

// parse turns the words after a resource name into the request they ask for.
func (c *cli) parse(res *resource, args []string) (request, error) {
	v, args, err := res.find(args)
	if err != nil {
		return request{}, err
	}
	fs := c.flagSet(res.name + " " + v.name)
	build := v.setup(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return request{}, err
	}
	if len(pos) < v.nargs || !v.variadic && len(pos) > v.nargs {
		return request{}, fmt.Errorf("usage: %s", v.line(res))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, name := range v.required {
		if !set[name] {
			return request{}, fmt.Errorf("%s %s needs --%s", res.name, v.name, name)
		}
	}
	if c.output != "table" && c.output != "json" && c.output != "yaml" {
		return request{}, fmt.Errorf("-o %q: want table, json or yaml", c.output)
	}
	return build(pos)
}

// flagSet returns a flag set that already holds the global flags, so they
// may be given anywhere on the command line.
func (c *cli) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.api, "api", c.api, "l2gwd API base `URL`; env L2GW_API overrides the default")
	fs.StringVar(&c.output, "o", c.output, "output `FORMAT`: table, json (the server's JSON, indented) or yaml (the same, as YAML); a delete prints nothing")
	fs.StringVar(&c.tokenFile, "token-file", c.tokenFile, "`FILE` holding the API's bearer token; env L2GW_TOKEN_FILE, or the token itself in L2GW_TOKEN")
	fs.StringVar(&c.ca, "ca", c.ca, "PEM CA bundle `FILE` that verifies an https:// API (default: the system's CAs); env L2GW_CA")
	fs.StringVar(&c.cert, "cert", c.cert, "PEM client certificate `FILE` for an https:// API that asks for one; env L2GW_CERT")
	fs.StringVar(&c.key, "key", c.key, "PEM private key `FILE` of --cert; env L2GW_KEY")
	return fs
}

// parseInterleaved parses fs from args where flags and positional arguments
// may be mixed, and returns the positional arguments in order.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// fail reports a command-line error (or prints the help asked for) and
// returns the exit status.
func (c *cli) fail(res *resource, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		c.usage(c.stdout, res)
		return 0
	}
	fmt.Fprintf(c.stderr, "error: %v\n\n", err)
	c.usage(c.stderr, res)
	return 2
}

// isHelp reports whether word asks for help rather than naming something.
func isHelp(word string) bool {
	return slices.Contains([]string{"help", "-h", "-help", "--help"}, word)
}
