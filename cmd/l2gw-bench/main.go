// Command l2gw-bench measures l2gwd at scale (issue 3): a bulk install of N
// MAC bindings against ovs-ofctl's own bundle load, single-binding changes
// with N bound, l2gwd and ovs-vswitchd restarts, memory, and API throughput
// with 16 clients; and BGP EVPN (issue 12): N type-2 routes from the
// benchmark's own GoBGP speaker, route changes one at a time, memory per
// route, and N local MACs learned from frames and advertised; and
// hardware_vtep (issue 13, scenario 7): the same vtep.db workload against
// each VTEP under test, ovs-vtep (Debian's openvswitch-vtep) as the
// baseline: 10,000 Ucast_Macs_Remote rows in one transaction until every
// remote-MAC flow is in OVS, a restart with them in (the flow changes
// ovs-ofctl monitor sees), and an ARP for a row's ipaddr (answered or
// flooded). It prints one table with every figure next to its target.
//
// It needs root and Open vSwitch (make deps). It never touches the host's
// network or OVS: it re-executes itself inside a network namespace it
// creates (l2gwbench-<pid>), where it runs a private ovsdb-server and
// ovs-vswitchd (userspace datapath) and l2gwd on 127.0.0.1 (BGP on
// 127.0.0.2, the benchmark's speaker on 127.0.0.3; scenario 7 adds vtep.db
// to that ovsdb-server and runs ovs-vtep there), and it removes
// the namespace and every process in it when it ends, also on error or
// Ctrl-C.
//
//	l2gw-bench [-n 1000000] [--evpn-routes 100000] [--l2gwd bin/l2gwd] [--api-seconds 20] [--skip 2,5,6]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// numScenarios is how many scenarios there are (numbered from 1).
const numScenarios = 7

// options are the command line.
type options struct {
	n          int          // bindings in the bulk POST
	evpnRoutes int          // EVPN routes and local MACs of scenario 6
	l2gwd      string       // the daemon's binary
	apiSeconds int          // duration of the API load (scenario 5)
	skip       map[int]bool // scenario numbers not to run
	skipList   string       // skip as given, passed on to the inner process
	inner      bool         // running inside the namespace
	workDir    string       // inner only: directory for OVS, l2gwd data and logs
	sinkRoutes int          // > 0: run as scenario 6's GoBGP-alone sink for this many routes
}

func main() {
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "l2gw-bench: %v\n", err)
		os.Exit(2)
	}
	switch {
	case opts.sinkRoutes > 0:
		err = runSink(opts.sinkRoutes)
	case opts.inner:
		err = runInner(opts)
	default:
		err = runOuter(opts)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "l2gw-bench: %v\n", err)
		os.Exit(1)
	}
}

// parseFlags reads the command line.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("l2gw-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.n, "n", 1000000, "MAC bindings in the bulk POST (and bound during scenarios 2-5; scenario 7 always commits 10,000 MACs, as issue 13 says)")
	fs.IntVar(&o.evpnRoutes, "evpn-routes", 100000, "EVPN routes and local MACs in scenario 6 (a million takes GoBGP some 15 GB and more than 10 minutes)")
	fs.StringVar(&o.l2gwd, "l2gwd", "bin/l2gwd", "l2gwd binary to measure")
	fs.IntVar(&o.apiSeconds, "api-seconds", 20, "seconds of concurrent creates in scenario 5")
	fs.StringVar(&o.skipList, "skip", "", "comma-separated scenario numbers not to run: 1 bulk, 2 incremental, 3 restart, 4 memory, 5 api, 6 evpn, 7 vtep (ovs-vtep, 10,000 MACs, a few minutes)")
	fs.BoolVar(&o.inner, "inner", false, "internal: run the scenarios (inside the benchmark's namespace)")
	fs.StringVar(&o.workDir, "workdir", "", "internal: working directory of the inner run")
	fs.IntVar(&o.sinkRoutes, "gobgp-sink", 0, "internal: run GoBGP alone until it has this many routes (scenario 6's floor)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if o.n < 1 {
		return o, fmt.Errorf("-n %d: need at least one binding", o.n)
	}
	if o.evpnRoutes < 1 {
		return o, fmt.Errorf("--evpn-routes %d: need at least one route", o.evpnRoutes)
	}
	if o.apiSeconds < 1 {
		return o, fmt.Errorf("--api-seconds %d: need at least 1", o.apiSeconds)
	}
	o.skip = map[int]bool{}
	for _, s := range strings.Split(o.skipList, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > numScenarios {
			return o, fmt.Errorf("--skip %q: scenario numbers are 1-%d", o.skipList, numScenarios)
		}
		o.skip[n] = true
	}
	if o.inner && o.workDir == "" {
		return o, errors.New("--inner needs --workdir")
	}
	return o, nil
}

// innerArgs is the command line of the inner run.
func (o options) innerArgs(workDir string) []string {
	return []string{"--inner", "--workdir", workDir, "-n", strconv.Itoa(o.n), "--evpn-routes", strconv.Itoa(o.evpnRoutes), "--l2gwd", o.l2gwd,
		"--api-seconds", strconv.Itoa(o.apiSeconds), "--skip", o.skipList}
}

// apiDuration is how long scenario 5 loads the API.
func (o options) apiDuration() time.Duration { return time.Duration(o.apiSeconds) * time.Second }
