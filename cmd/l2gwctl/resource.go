package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// resource is a noun of the command line and the verbs it takes.
type resource struct {
	name    string // as typed, e.g. "network"
	summary string
	verbs   []verb // one verb with an empty name: the resource is the action
}

// verb is one action on a resource.
type verb struct {
	name     string
	synopsis string // positional arguments and flags, as usage shows them
	nargs    int    // positional arguments required
	variadic bool   // more positional arguments may follow
	required []string
	// setup declares the verb's flags on fs and returns the function that,
	// once fs is parsed, turns the positional arguments into a request.
	setup func(fs *flag.FlagSet) func(args []string) (request, error)
}

// fixed is the setup of a verb without flags of its own.
func fixed(build func(args []string) request) func(*flag.FlagSet) func([]string) (request, error) {
	return func(*flag.FlagSet) func([]string) (request, error) {
		return func(args []string) (request, error) { return build(args), nil }
	}
}

// find picks the verb args name and returns the arguments after it.
func (r *resource) find(args []string) (verb, []string, error) {
	if len(r.verbs) == 1 && r.verbs[0].name == "" {
		return r.verbs[0], args, nil
	}
	if len(args) == 0 {
		return verb{}, nil, fmt.Errorf("missing verb for %s", r.name)
	}
	if isHelp(args[0]) {
		return verb{}, nil, flag.ErrHelp
	}
	for _, v := range r.verbs {
		if v.name == args[0] {
			return v, args[1:], nil
		}
	}
	return verb{}, nil, fmt.Errorf("unknown verb %q for %s", args[0], r.name)
}

// line is the verb's usage line.
func (v verb) line(r *resource) string {
	return strings.Join(slices.DeleteFunc([]string{"l2gwctl", r.name, v.name, v.synopsis},
		func(s string) bool { return s == "" }), " ")
}

// usage writes the help for res, or for the whole command when res is nil.
func (c *cli) usage(w io.Writer, res *resource) {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	defer tw.Flush()
	if res == nil {
		fmt.Fprint(tw, "Usage: l2gwctl [--api URL] [-o table|json|yaml] <resource> <verb> [args]\n\n"+
			"l2gwctl drives l2gwd, the layer-2 gateway controller, through its HTTP API v1.\n\nResources:\n")
		for _, r := range resources {
			fmt.Fprintf(tw, "  %s\t%s\n", r.name, r.summary)
		}
		fmt.Fprint(tw, "\nFlags (before or after the resource):\n")
		var global []*flag.Flag
		c.flagSet("").VisitAll(func(f *flag.Flag) { global = append(global, f) })
		writeFlags(tw, global, nil)
		fmt.Fprint(tw, "\nExamples:\n"+
			"  l2gwctl network create backup --attach eth1 --attach trunk0:100\n"+
			"  l2gwctl gateway create site-b --tunnel-ip 198.51.100.2\n"+
			"  l2gwctl network create lab --attach eth2 --evpn-vni 5001\n"+
			"  l2gwctl bgp-peer create rr1 --address 198.51.100.3 --asn 65000\n"+
			"  l2gwctl connection create backup-b --network backup --gateway site-b --segmentation-id 5001\n"+
			"  l2gwctl mac add backup-b 02:0b:00:00:00:01=192.0.2.21 --file more-macs.json\n"+
			"  l2gwctl -o json status\n"+
			"\nExit status: 0 ok, 1 API error, 2 usage error.\n"+
			"Run 'l2gwctl <resource> --help' for a resource's verbs and flags.\n")
		return
	}
	fmt.Fprintf(tw, "l2gwctl %s: %s.\n\nUsage:\n", res.name, res.summary)
	var flags []*flag.Flag
	verbsOf := map[string][]string{}
	for _, v := range res.verbs {
		fmt.Fprintf(tw, "  %s\n", v.line(res))
		fs := flag.NewFlagSet(v.name, flag.ContinueOnError)
		v.setup(fs)
		fs.VisitAll(func(f *flag.Flag) {
			if verbsOf[f.Name] == nil {
				flags = append(flags, f)
			}
			verbsOf[f.Name] = append(verbsOf[f.Name], v.name)
		})
	}
	if len(flags) > 0 {
		fmt.Fprint(tw, "\nFlags:\n")
		writeFlags(tw, flags, verbsOf)
	}
	fmt.Fprint(tw, "\nGlobal flags (--api, -o, --token-file, --ca, --cert, --key) may appear anywhere; see 'l2gwctl --help'.\n")
}

// writeFlags writes one line per flag: its name, argument, usage, default
// and, when verbsOf knows them, the verbs that take it.
func writeFlags(w io.Writer, flags []*flag.Flag, verbsOf map[string][]string) {
	for _, f := range flags {
		arg, text := flag.UnquoteUsage(f)
		dashes := "--"
		if len(f.Name) == 1 {
			dashes = "-"
		}
		if f.DefValue != "" && f.DefValue != "[]" {
			text += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		if verbs := verbsOf[f.Name]; len(verbs) > 0 {
			text += " [" + strings.Join(verbs, ", ") + "]"
		}
		fmt.Fprintf(w, "  %s\t%s\n", strings.TrimSpace(dashes+f.Name+" "+arg), text)
	}
}
