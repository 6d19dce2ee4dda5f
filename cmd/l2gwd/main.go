// Command l2gwd is the l2gw daemon: it runs on one site's gateway node and
// drives that site's Open vSwitch bridge (OVSDB for the bridge and tunnel
// ports, OpenFlow 1.3 for the flows) from the desired state that its HTTP
// API manages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/l2gw/l2gw/api"
	"github.com/l2gw/l2gw/app"
	"github.com/l2gw/l2gw/evpn"
	"github.com/l2gw/l2gw/flows"
	"github.com/l2gw/l2gw/ovsdb"
	"github.com/l2gw/l2gw/vtep"
)

func main() {
	os.Exit(daemon(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// daemon is l2gwd from its arguments to its exit status: 0 when it stopped
// cleanly (or printed its help or configuration), 1 when it failed while
// running, 2 for a configuration it refuses. The configuration goes to
// stdout (--print-config), usage and logs to stderr.
func daemon(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "l2gwd: %v\n", err)
		return 2
	}
	if cfg.PrintConfig {
		if err := cfg.sources.writeYAML(stdout); err != nil {
			fmt.Fprintf(stderr, "l2gwd: %v\n", err)
			return 1
		}
		return 0
	}
	log := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	apiOpts, err := cfg.apiOptions(log)
	if err != nil {
		fmt.Fprintf(stderr, "l2gwd: %v\n", err)
		return 2
	}
	if getenv("GOGC") == "" {
		// A bulk change or a full resync allocates several times its
		// live memory in short-lived objects: collect at 1.5x the live
		// heap rather than Go's default 2x to keep the peak down.
		debug.SetGCPercent(50)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, cfg, apiOpts, log); err != nil {
		log.Error("l2gwd stopped", "err", err)
		return 1
	}
	return 0
}

// run serves until ctx ends (SIGTERM), then stops cleanly; apiOpts guard
// the API. Flows stay on the bridge (fail_mode=secure), so traffic keeps
// flowing while l2gwd is away.
// loadGCPercent is the collector's GOGC while the store loads.
const loadGCPercent = 400

func run(ctx context.Context, cfg *config, apiOpts api.ServerOptions, log *slog.Logger) error {
	// The OpenFlow listener comes first: a restarted l2gwd is there for the
	// switch's next reconnect attempt (OVS retries once a second) while it
	// loads its store, and reads the bridge as soon as the store is in.
	session, err := listenOpenFlow(cfg, log)
	if err != nil {
		return err
	}
	defer session.Close()
	// BGP comes up next, before the store is loaded: a restarted l2gwd is
	// back in its peers' tables as soon as the protocol allows (FRR drops
	// a restarting peer's EVPN routes at once).
	metrics := api.NewRegistry()
	bgpCtx, stopBGP := context.WithCancel(context.Background())
	defer stopBGP()
	speaker, err := startBGP(bgpCtx, cfg, metrics, log)
	if err != nil {
		return err
	}
	if speaker != nil {
		defer speaker.Close()
	}
	// What loading the store allocates stays live: the collector, which
	// would trace the growing heap again and again, waits (a fifth of the
	// load at a million bindings).
	gcPercent := debug.SetGCPercent(loadGCPercent)
	if gcPercent < 0 || gcPercent > loadGCPercent {
		debug.SetGCPercent(gcPercent) // the operator's GOGC waits longer already
	}
	state, err := app.Open(cfg.DataDir, app.Options{
		Logger: log, LocalTunnelIPs: cfg.ownTunnelIPs(),
		Origins: cfg.dynamicOrigins(), HoldTime: time.Duration(cfg.HoldTime) * time.Second,
	})
	debug.SetGCPercent(gcPercent)
	if err != nil {
		return err
	}
	defer state.Close()
	if speaker != nil {
		if err := followState(bgpCtx, speaker, state, log); err != nil {
			return err
		}
	}

	apiListener, err := net.Listen("tcp", cfg.APIListen)
	if err != nil {
		return fmt.Errorf("api listen %s: %w", cfg.APIListen, err)
	}

	dialCtx, cancelDial := context.WithTimeout(ctx, 30*time.Second)
	ovs, err := ovsdb.Dial(dialCtx, cfg.OVSDB, log)
	cancelDial()
	if err != nil {
		apiListener.Close()
		return fmt.Errorf("connect to ovsdb %s: %w", cfg.OVSDB, err)
	}
	defer ovs.Close()

	var bridge app.Bridge = ovs
	if ssl := cfg.ovsSSL(); ssl != nil {
		bridge = sslBridge{Client: ovs, ssl: ssl}
	}
	rec := app.NewReconciler(app.ReconcilerConfig{
		Bridge: cfg.Bridge, DatapathType: cfg.DatapathType, ControllerTarget: cfg.controllerTarget(),
		TunnelIP: cfg.tunnelPortLocalIP(), Learning: cfg.learning(), Logger: log,
		// EVPN advertises the IPs hosts announce (ARP, ND), hardware_vtep
		// writes them as the local MACs' ipaddr: snoop them.
		SnoopHosts: speaker != nil || cfg.VTEPDB != "",
		HAPeer:     cfg.haConfig().Peer,
	}, state, session, bridge)
	if err := rec.Instrument(metrics); err != nil {
		apiListener.Close()
		return err
	}
	recCtx, stopRec := context.WithCancel(context.Background())
	pair, err := newHA(recCtx, cfg, state, ovs, rec, session, speaker, log)
	if err != nil {
		stopRec()
		apiListener.Close()
		return err
	}
	recDone := make(chan struct{})
	go func() {
		defer close(recDone)
		rec.Run(recCtx)
	}()
	go pair.Run(recCtx)
	vtepSwitch, err := startLocalOrigins(recCtx, cfg, state, ovs, rec, speaker, log)
	if err != nil {
		stopRec()
		<-recDone
		apiListener.Close()
		return err
	}
	if vtepSwitch != nil {
		defer vtepSwitch.Close()
	}

	handlerOpts := []api.HandlerOption{api.WithMetrics(metrics), api.WithFlows(rec.Flows), api.WithLearned(rec),
		api.WithEndpoints(pair.Endpoints)}
	if speaker != nil {
		handlerOpts = append(handlerOpts, api.WithBGP(speaker))
	}
	status := func() app.Status {
		s := rec.Status()
		s.HA = pair.Status()
		return s
	}
	server := api.NewServer(api.NewHandler(state, status, log, handlerOpts...), apiOpts)
	serveErr := make(chan error, 1)
	go func() { serveErr <- api.Serve(server, apiListener) }()
	log.Info("l2gwd started", "bridge", cfg.Bridge, "api", cfg.APIListen, "api_tls", apiOpts.TLS != nil,
		"api_token", apiOpts.Token != "", "openflow", cfg.OpenFlowListen, "controller", cfg.controllerTarget(),
		"ovs_ssl_managed", cfg.ovsSSL() != nil, "tunnel_ip", cfg.TunnelIP, "data_dir", cfg.DataDir,
		"ha_peer", cfg.HAPeer, "ha_priority", cfg.HAPriority)

	select {
	case <-ctx.Done():
		log.Info("stopping: flows stay on the bridge")
	case err = <-serveErr:
		err = fmt.Errorf("api server: %w", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	server.Shutdown(shutdownCtx)
	stopRec()
	<-recDone
	return err
}

// startLocalOrigins gives the dynamic origins that advertise this site
// the local-MAC watch until ctx ends: EVPN's speaker, when BGP is on, and
// the hardware_vtep origin of --vtep-db, which it starts (nil without
// --vtep-db).
func startLocalOrigins(ctx context.Context, cfg *config, state *app.State, ovs *ovsdb.Client, rec *app.Reconciler, speaker *evpn.Speaker, log *slog.Logger) (*vtep.VTEP, error) {
	if speaker != nil {
		local, err := rec.WatchLocalMACs(ctx)
		if err != nil {
			return nil, err
		}
		speaker.WatchLocal(local)
	}
	v, err := startVTEP(ctx, cfg, state, ovs, log)
	if err != nil || v == nil {
		return nil, err
	}
	local, err := rec.WatchLocalMACs(ctx)
	if err != nil {
		v.Close()
		return nil, err
	}
	v.WatchLocal(local)
	return v, nil
}

// listenOpenFlow opens the OpenFlow listener of --openflow-listen: over TLS
// for ssl:, plain TCP otherwise.
func listenOpenFlow(cfg *config, log *slog.Logger) (*flows.Session, error) {
	_, addr := cfg.openflowListen()
	if files := cfg.openflowTLS(); files != nil {
		return flows.ListenTLS(addr, *files, log)
	}
	return flows.Listen(addr, log)
}

// sslBridge is the OVSDB client whose every EnsureBridge also keeps OVS's
// SSL table at ssl, in the same transaction as the ssl: controller target,
// so an operator's change to either is put right like any other drift.
type sslBridge struct {
	*ovsdb.Client
	ssl *ovsdb.SSLConfig
}

// EnsureBridge is ovsdb.Client.EnsureBridge with the SSL settings added.
func (b sslBridge) EnsureBridge(ctx context.Context, cfg ovsdb.BridgeConfig) error {
	cfg.SSL = b.ssl
	return b.Client.EnsureBridge(ctx, cfg)
}
