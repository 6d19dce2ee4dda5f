package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
)

// The floor of figure 1: how long GoBGP v4.8.0 alone, the BGP library
// l2gwd embeds, takes to receive the same routes from the same speaker in
// the same run, and its peak RSS. It runs in a process of its own (the
// benchmark re-executed with --gobgp-sink): two GoBGP servers in one
// process race on the library's package-level state.

// sinkResult is what the sink measured.
type sinkResult struct {
	elapsed time.Duration // session established to the last route's best path
	hwm     int64         // its VmHWM, bytes
}

// gobgpFloor runs the sink against the speaker for want routes.
func (e *evpnRun) gobgpFloor(ctx context.Context, want int) (sinkResult, error) {
	if err := e.sp.addPassivePeer(ctx, sinkBGPAddr); err != nil {
		return sinkResult{}, fmt.Errorf("add GoBGP alone as the speaker's peer: %w", err)
	}
	defer func() {
		if err := e.sp.s.DeletePeer(context.Background(), &api.DeletePeerRequest{Address: sinkBGPAddr}); err != nil {
			e.b.log.Warn("delete the GoBGP-alone peer", "err", err)
		}
	}()
	self, err := os.Executable()
	if err != nil {
		return sinkResult{}, fmt.Errorf("find the benchmark binary: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, self, "--gobgp-sink", strconv.Itoa(want))
	cmd.Env = append(os.Environ(), "GOGC=") // l2gwd's own GC setting applies
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return sinkResult{}, fmt.Errorf("GoBGP alone receiving %d routes: %w", want, err)
	}
	var ns, hwm int64
	if _, err := fmt.Sscanf(string(out), "%d %d", &ns, &hwm); err != nil {
		return sinkResult{}, fmt.Errorf("GoBGP alone: read its figures %q: %w", out, err)
	}
	return sinkResult{elapsed: time.Duration(ns), hwm: hwm}, nil
}

// runSink is the sink's process: a GoBGP server configured as l2gwd
// configures its own (iBGP, AS bgpASN, graceful restart, the EVPN family,
// a best-path watch, GC percent 50) opens the session with the speaker
// from sinkBGPAddr and counts best paths until want have arrived. It
// prints the nanoseconds from established to the last one and its VmHWM
// in bytes.
func runSink(want int) error {
	debug.SetGCPercent(50)
	level := new(slog.LevelVar)
	level.Set(slog.LevelWarn)
	s := server.NewBgpServer(server.LoggerOption(slog.New(slog.NewTextHandler(os.Stderr, nil)), level))
	go s.Serve()
	defer s.Stop()
	ctx := context.Background()
	err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: bgpASN, RouterId: sinkBGPAddr, ListenPort: -1,
	}})
	if err != nil {
		return fmt.Errorf("start GoBGP alone: %w", err)
	}
	var (
		mu          sync.Mutex
		established time.Time
		last        time.Time
		count       int
		done        = make(chan struct{})
	)
	err = s.WatchEvent(ctx, server.WatchEventMessageCallbacks{
		OnBestPath: func(paths []*apiutil.Path, t time.Time) {
			mu.Lock()
			defer mu.Unlock()
			for _, p := range paths {
				if p.Withdrawal {
					continue
				}
				if count++; count == want {
					last = time.Now()
					close(done)
				}
			}
		},
		OnPeerUpdate: func(ev *apiutil.WatchEventMessage_PeerEvent, t time.Time) {
			if ev.Type == apiutil.PEER_EVENT_STATE && ev.Peer.State.SessionState == bgp.BGP_FSM_ESTABLISHED {
				mu.Lock()
				established = t
				mu.Unlock()
			}
		},
	}, server.WatchBestPath(false), server.WatchPeer())
	if err != nil {
		return fmt.Errorf("watch GoBGP alone: %w", err)
	}
	family := &api.Family{Afi: api.Family_AFI_L2VPN, Safi: api.Family_SAFI_EVPN}
	err = s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:            &api.PeerConf{NeighborAddress: benchBGPAddr, PeerAsn: bgpASN},
		Transport:       &api.Transport{LocalAddress: sinkBGPAddr, RemotePort: bgpPort},
		GracefulRestart: &api.GracefulRestart{Enabled: true, RestartTime: 120},
		AfiSafis: []*api.AfiSafi{{
			Config:            &api.AfiSafiConfig{Family: family, Enabled: true},
			MpGracefulRestart: &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}},
		}},
	}})
	if err != nil {
		return fmt.Errorf("GoBGP alone: add the speaker as a peer: %w", err)
	}
	<-done
	hwm, err := selfHWM()
	if err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	fmt.Printf("%d %d\n", last.Sub(established).Nanoseconds(), hwm)
	return nil
}

// selfHWM is this process's VmHWM in bytes.
func selfHWM() (int64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("read own memory: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if val, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse own VmHWM %q: %w", val, err)
			}
			return kib * 1024, nil
		}
	}
	return 0, fmt.Errorf("own VmHWM not found")
}
