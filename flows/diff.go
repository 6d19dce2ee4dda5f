package flows

import "github.com/contiv/libOpenflow/openflow13"

// Diff returns what turns installed into desired: the flows to add (desired
// cookies not installed) and the flows to delete (installed cookies not
// desired), each sorted by table, priority and cookie. Because a cookie
// carries its flow's content hash, a flow whose actions changed shows up as
// one add (which replaces it in OVS, same match and priority) plus one
// delete of the old cookie (which then finds nothing).
func Diff(desired, installed FlowSet) (adds, dels []*Flow) {
	for c, f := range desired {
		if _, ok := installed[c]; !ok {
			adds = append(adds, f)
		}
	}
	for c, f := range installed {
		if _, ok := desired[c]; !ok {
			dels = append(dels, f)
		}
	}
	sortFlows(adds)
	sortFlows(dels)
	return adds, dels
}

// Mods turns a diff into flow_mods for one bundle: adds first, then strict
// deletes by full cookie, so a replaced flow is never missing and a delete
// can never remove a flow that one of the adds installed.
func Mods(adds, dels []*Flow) []*openflow13.FlowMod {
	mods := make([]*openflow13.FlowMod, 0, len(adds)+len(dels))
	for _, f := range adds {
		mods = append(mods, f.AddMod())
	}
	for _, f := range dels {
		mods = append(mods, f.DeleteMod())
	}
	return mods
}
