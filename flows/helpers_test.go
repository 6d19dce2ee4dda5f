package flows

import "slices"

// Diff returns what turns installed into desired: the flows to add (desired
// cookies not installed, sorted by table, priority and cookie) and the
// cookies to delete (installed, not desired; sorted). Because a cookie
// carries its flow's content hash, a flow whose actions changed shows up as
// one add (which replaces it in OVS, same match and priority) plus one
// delete of the old cookie (which then finds nothing).
func Diff(desired FlowSet, installed Cookies) (adds []*Flow, dels []uint64) {
	for c, f := range desired {
		if _, ok := installed[c]; !ok {
			adds = append(adds, f)
		}
	}
	for c := range installed {
		if _, ok := desired[c]; !ok {
			dels = append(dels, c)
		}
	}
	sortFlows(adds)
	slices.Sort(dels)
	return adds, dels
}

// Mods turns a diff into flow_mods for one bundle (the reconciler streams
// its own): adds first, then deletes
// by full cookie, so a replaced flow is never missing and a delete can never
// remove a flow that one of the adds installed.
func Mods(adds []*Flow, dels []uint64) []Mod {
	mods := make([]Mod, 0, len(adds)+len(dels))
	for _, f := range adds {
		mods = append(mods, f.AddMod())
	}
	for _, c := range dels {
		mods = append(mods, DeleteCookieMod(c))
	}
	return mods
}

// setCookies returns the set's cookies.
func setCookies(s FlowSet) Cookies {
	out := make(Cookies, len(s))
	for c := range s {
		out[c] = struct{}{}
	}
	return out
}
