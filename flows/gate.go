package flows

import "fmt"

// The HA gate of a standby gateway. A pair of gateway nodes serves one site;
// the standby must forward nothing while the primary is alive, and take
// over, in the datapath and with no controller in the loop, once the
// primary falls silent while some remote gateway is still reachable. The
// gate is one fast-failover group owned by the pipeline (gateGroupID) and
// one classifier flow above every other (PriorityGate) that sends every
// packet not yet marked as passed (RegGate) to it. The group's buckets, in
// order:
//   - one per PeerPort (a BFD port that hears the HA peer: over the
//     underlay, over the local segment), watching it, without actions:
//     while the peer is heard, the packet is dropped;
//   - one per WitnessPort (a BFD port toward a remote gateway's endpoint),
//     watching it, that marks the packet passed and resubmits it to the
//     classifier, where the pipeline takes it as if there were no gate;
//   - nothing live: the group drops the packet (a standby that hears
//     neither its peer nor any remote has nobody to forward for).
//
// Checked on OVS 3.1 (TestHAGateOnOVS): the bucket's resubmit runs the
// whole pipeline, learning included.

// Gate is the HA gate's input: ofports of BFD ports.
type Gate struct {
	// PeerPorts hear the HA peer (its tunnel IP over the underlay, its
	// attachments over the local segment).
	PeerPorts []uint32
	// WitnessPorts reach the endpoints of remote gateways.
	WitnessPorts []uint32
}

// RegGate (reg8) is GatePassed once a packet passed the HA gate, set in the
// gate group's bucket: the gate's classifier flow matches its 0, so a
// packet passes the gate once. No other flow reads it.
const RegGate = 8

// GatePassed is RegGate's value for a packet that passed the HA gate.
const GatePassed = 1

// PriorityGate is the priority of the HA gate's flow in TableClassifier:
// above every other (the multicast-source drop is 300).
const PriorityGate = 400

// gateGroupID is the ID of the HA gate's group, the pipeline's.
var gateGroupID = GroupID(Owner{Kind: KindPipeline})

// gateFlow sends every packet that has not passed the HA gate to its group.
func gateFlow(pipeline Owner) *Flow {
	return flow(TableClassifier, PriorityGate).match(matchReg(RegGate, 0)).apply(groupAction(gateGroupID)).done(pipeline)
}

// gateGroup builds the HA gate's group.
func gateGroup(g *Gate) (*Group, error) {
	var buckets []Bucket
	for _, p := range g.PeerPorts {
		buckets = append(buckets, bucket(p))
	}
	for _, p := range g.WitnessPorts {
		buckets = append(buckets, bucket(p, setField(matchReg(RegGate, GatePassed)), resubmit(TableClassifier)))
	}
	grp, err := NewGroup(gateGroupID, GroupFastFailover, buckets...)
	if err != nil {
		return nil, fmt.Errorf("HA gate: %w", err)
	}
	return grp, nil
}
