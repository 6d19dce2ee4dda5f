package vtep

import (
	"cmp"
	"maps"
	"net"
	"slices"

	"github.com/l2gw/l2gw/app"
)

// told is what the feed has been told since the session began: the
// feed's side of the view, so that each turn tells only what changed.
// Refused and rejected hold the networks and remote MACs the feed refused
// (with its error), not told again while they stay the same.
type told struct {
	networks map[string]app.Network
	refused  map[string]refusedNetwork
	macs     map[macKey]app.RemoteMAC
	floods   map[app.FloodTarget]bool
	rejected map[macKey]rejectedMAC
}

type refusedNetwork struct {
	n   app.Network
	why string
}

type rejectedMAC struct {
	m   app.RemoteMAC
	why string
}

func newTold() told {
	return told{
		networks: map[string]app.Network{},
		refused:  map[string]refusedNetwork{},
		macs:     map[macKey]app.RemoteMAC{},
		floods:   map[app.FloodTarget]bool{},
		rejected: map[macKey]rejectedMAC{},
	}
}

// sameNetwork tells whether two networks a feed tells are the same.
func sameNetwork(a, b app.Network) bool {
	return a.Name == b.Name && slices.Equal(a.Attachments, b.Attachments)
}

// tellNetworks tells the feed the networks of nets that are new or
// changed, and returns those it refused (malformed for it: a port name
// it does not take), with why.
func (v *VTEP) tellNetworks(nets map[string]app.Network) map[string]string {
	t := &v.told
	var up []app.Network
	for _, name := range slices.Sorted(maps.Keys(nets)) {
		n := nets[name]
		if old, ok := t.networks[name]; ok && sameNetwork(old, n) {
			continue
		}
		if r, ok := t.refused[name]; ok && sameNetwork(r.n, n) {
			continue
		}
		up = append(up, n)
	}
	for i, err := range tellEach(up, v.cfg.Feed.UpsertNetworks) {
		n := up[i]
		if err == nil {
			delete(t.refused, n.Name)
			t.networks[n.Name] = n
			continue
		}
		v.log.Warn("hardware_vtep logical switch refused as a network", "network", n.Name, "err", err)
		t.refused[n.Name] = refusedNetwork{n: n, why: err.Error()}
		if _, was := t.networks[n.Name]; was {
			// What it said before is no longer what the database says.
			if err := v.cfg.Feed.RemoveNetworks(n.Name); err != nil {
				v.log.Error("remove hardware_vtep network", "network", n.Name, "err", err)
			}
			delete(t.networks, n.Name)
		}
	}
	refused := map[string]string{}
	for name, r := range t.refused {
		if _, ok := nets[name]; !ok {
			delete(t.refused, name)
			continue
		}
		refused[name] = "l2gwd refuses it as a network: " + r.why
	}
	return refused
}

// removeNetworks takes back the networks told that nets no longer has.
func (v *VTEP) removeNetworks(nets map[string]app.Network) {
	var gone []string
	for name := range v.told.networks {
		if _, ok := nets[name]; !ok {
			gone = append(gone, name)
			delete(v.told.networks, name)
		}
	}
	if len(gone) == 0 {
		return
	}
	slices.Sort(gone)
	if err := v.cfg.Feed.RemoveNetworks(gone...); err != nil {
		v.log.Error("remove hardware_vtep networks", "networks", gone, "err", err)
	}
}

// sameRemote tells whether two remote MACs say the same.
func sameRemote(a, b app.RemoteMAC) bool {
	return a.Network == b.Network && a.Tunnel == b.Tunnel && slices.Equal(a.MAC, b.MAC) && slices.Equal(a.IPs, b.IPs)
}

// tell tells the feed the remote MACs and flood targets of w it has not
// been told, and withdraws what w no longer has. What the feed refuses (malformed for it: a VNI or an
// endpoint it does not take) is logged once and left out.
func (v *VTEP) tell(w *view) {
	t := &v.told
	var up []app.RemoteMAC
	var upKeys []macKey
	for _, k := range slices.SortedFunc(maps.Keys(w.macs), compareMACKeys) {
		m := w.macs[k]
		if old, ok := t.macs[k]; ok && sameRemote(old, m) {
			continue
		}
		if r, ok := t.rejected[k]; ok && sameRemote(r.m, m) {
			continue
		}
		up, upKeys = append(up, m), append(upKeys, k)
	}
	var gone []app.RemoteMACKey
	for k := range t.macs {
		if _, ok := w.macs[k]; !ok {
			gone = append(gone, app.RemoteMACKey{Network: k.network, MAC: net.HardwareAddr(k.mac[:])})
			delete(t.macs, k)
		}
	}
	for k := range t.rejected {
		if _, ok := w.macs[k]; !ok {
			delete(t.rejected, k)
		}
	}
	var add, remove []app.FloodTarget
	for f := range w.floods {
		if !t.floods[f] {
			add = append(add, f)
		}
	}
	for f := range t.floods {
		if !w.floods[f] {
			remove = append(remove, f)
			delete(t.floods, f)
		}
	}

	for i, err := range tellEach(up, v.cfg.Feed.UpsertRemoteMACs) {
		k := upKeys[i]
		if err != nil {
			if _, was := t.macs[k]; was {
				// What it said before is no longer what the database says.
				gone = append(gone, app.RemoteMACKey{Network: k.network, MAC: up[i].MAC})
				delete(t.macs, k)
			}
			t.rejected[k] = rejectedMAC{m: up[i], why: err.Error()}
			v.log.Warn("hardware_vtep remote MAC refused", "network", k.network, "mac", up[i].MAC, "err", err)
			continue
		}
		delete(t.rejected, k)
		t.macs[k] = up[i]
	}
	for i, err := range tellEach(add, v.cfg.Feed.AddFloodTargets) {
		if err != nil {
			v.log.Warn("hardware_vtep flood target refused", "network", add[i].Network, "tunnel", add[i].Tunnel, "err", err)
			continue
		}
		t.floods[add[i]] = true
	}
	if len(gone) > 0 {
		if err := v.cfg.Feed.WithdrawRemoteMACs(gone...); err != nil {
			v.log.Error("withdraw hardware_vtep remote MACs", "err", err)
		}
	}
	if len(remove) > 0 {
		if err := v.cfg.Feed.RemoveFloodTargets(remove...); err != nil {
			v.log.Error("remove hardware_vtep flood targets", "err", err)
		}
	}
	if n := len(up) + len(gone) + len(add) + len(remove); n > 0 {
		v.log.Debug("hardware_vtep told the feed", "upserted_macs", len(up), "withdrawn_macs", len(gone),
			"added_floods", len(add), "removed_floods", len(remove))
	}
}

// tellEach tells items in one call; when the call refuses them (an error
// is the feed's word that something of it is malformed, and then nothing
// of it applies), it tells each alone to find which. It returns each
// item's error.
func tellEach[T any](items []T, call func(...T) error) []error {
	errs := make([]error, len(items))
	if len(items) == 0 || call(items...) == nil {
		return errs
	}
	for i := range items {
		errs[i] = call(items[i])
	}
	return errs
}

func compareMACKeys(a, b macKey) int {
	return cmp.Or(cmp.Compare(a.network, b.network), slices.Compare(a.mac[:], b.mac[:]))
}
