package api

import (
	"io"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/l2gw/l2gw/app"
)

// RemoteMAC is one remote MAC of a network as one origin has it: an element
// of the answer of GET /v1/networks/{name}/remote-macs. The same MAC may be
// listed by several origins: the one first in precedence (static, vtep,
// evpn) is active, the others are shadowed by it and take over when it
// goes.
type RemoteMAC struct {
	MAC    string   `json:"mac"`
	IPs    []string `json:"ips"`
	Origin string   `json:"origin"`
	// Connection is the name of the connection the MAC is reached
	// through: an API connection, or a dynamic origin's
	// "NETWORK:TYPE:SEGID@ENDPOINT".
	Connection     string `json:"connection"`
	TunnelIP       string `json:"tunnel_ip"`
	SegmentationID uint32 `json:"segmentation_id"`
	NetworkType    string `json:"network_type"`
	// State is active (this origin's word compiles) or shadowed (by
	// ShadowedBy's, which binds the MAC or admits its tunnel into another
	// network).
	State      string `json:"state"`
	ShadowedBy string `json:"shadowed_by,omitempty"`
	// ShadowedIPs are the IPs of an active MAC that a MAC of an origin
	// first in precedence has: ARP and ND answer for that one.
	ShadowedIPs []ShadowedIP `json:"shadowed_ips,omitempty"`
}

// ShadowedIP is an IP a remote MAC gives that another origin's MAC wins.
type ShadowedIP struct {
	IP         string `json:"ip"`
	ShadowedBy string `json:"shadowed_by"`
}

// Remote MAC states.
const (
	remoteActive   = "active"
	remoteShadowed = "shadowed"
)

// remoteMACOf is m as the API shows it.
func remoteMACOf(m app.RemoteMACInfo) RemoteMAC {
	out := RemoteMAC{MAC: m.MAC, IPs: m.IPs, Origin: m.Origin.String(), Connection: m.Connection, TunnelIP: m.TunnelIP,
		SegmentationID: m.SegmentationID, NetworkType: m.NetworkType, State: remoteActive}
	if out.IPs == nil {
		out.IPs = []string{}
	}
	if !m.Active {
		out.State, out.ShadowedBy = remoteShadowed, m.ShadowedBy.String()
	}
	for _, ip := range m.ShadowedIPs {
		out.ShadowedIPs = append(out.ShadowedIPs, ShadowedIP{IP: ip.IP, ShadowedBy: ip.By.String()})
	}
	return out
}

// remoteMACList is the body of GET /v1/networks/{name}/remote-macs,
// written one MAC at a time (a network may have a million).
type remoteMACList struct {
	macs []app.RemoteMACInfo
}

// writeJSON writes {"remote_macs":[RemoteMAC...]} as json.Encoder would.
func (l remoteMACList) writeJSON(w io.Writer) error {
	return streamList(w, "remote_macs", len(l.macs), func(i int, m *RemoteMAC) { *m = remoteMACOf(l.macs[i]) })
}

// getRemoteMACs serves GET /v1/networks/{name}/remote-macs[?origin=O]: the
// remote MACs of every origin, or of origin O only.
func (h *handler) getRemoteMACs(r *http.Request) (int, any, error) {
	var origins []app.Origin
	if text := r.URL.Query().Get("origin"); text != "" {
		o, err := app.ParseOrigin(text)
		if err != nil {
			return 0, nil, invalid("origin", err.Error())
		}
		origins = append(origins, o)
	}
	macs, err := h.state.RemoteMACs(mux.Vars(r)["name"], origins...)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, remoteMACList{macs: macs}, nil
}
