package ha

import (
	"context"
	"encoding/binary"
	"net"
	"time"

	"github.com/l2gw/l2gw/flows"
)

// announceBurst is how many frames go out between short pauses, so that a
// takeover with many remote MACs does not flood the local segment in one
// burst (about 100,000 frames a second at most).
const announceBurst = 100

// announceRemote sends, out of every attachment of every network, a RARP
// for each remote MAC active in the network (what the API binds and the
// dynamic origins tell): the local segment's switches then move their
// entries for those MACs to this node at once, instead of sending to the
// node that failed until the entries age out or the hosts talk.
func (c *Controller) announceRemote(ctx context.Context) {
	start := time.Now()
	ofports := c.ovs.OFPorts(c.cfg.Bridge)
	sent, failed := 0, 0
	for _, n := range c.state.ListNetworks() {
		macs, err := c.state.RemoteMACs(n.Name)
		if err != nil {
			continue // deleted meanwhile
		}
		for _, m := range macs {
			hw, err := net.ParseMAC(m.MAC)
			if !m.Active || err != nil || len(hw) != 6 {
				continue
			}
			frame := flows.RARP([6]byte(hw))
			for _, a := range n.Attachments {
				port, ok := ofports[a.Port]
				if !ok {
					continue
				}
				if err := c.ann.SendPacket(ctx, port, tagged(frame, a.VLAN)); err != nil {
					if ctx.Err() != nil {
						return
					}
					failed++
					continue
				}
				if sent++; sent%announceBurst == 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(time.Millisecond):
					}
				}
			}
		}
	}
	c.log.Info("ha: announced the remote MACs on the local segment", "frames", sent, "failed", failed, "took", time.Since(start))
}

// tagged is frame with an 802.1Q tag of vlan after its MAC addresses; the
// frame itself when vlan is 0.
func tagged(frame []byte, vlan uint16) []byte {
	if vlan == 0 {
		return frame
	}
	out := make([]byte, 0, len(frame)+4)
	out = append(out, frame[:12]...)
	out = binary.BigEndian.AppendUint16(out, 0x8100)
	out = binary.BigEndian.AppendUint16(out, vlan)
	return append(out, frame[12:]...)
}
