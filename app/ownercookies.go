package app

import (
	"maps"
	"slices"

	"github.com/l2gw/l2gw/flows"
)

// ownerCookies holds the cookies of each owner's flows, as the model knows
// them. The flows of static bindings (two per binding, a million bindings
// on a large gateway) share their cookies' upper half, the owner: they are
// kept as content hashes in pages indexed by binding ID, 12 bytes a
// binding where a map entry and its slice of cookies took some 110. A page
// goes when its last binding does: binding IDs move on as bindings come
// and go (idSpace), and the pages follow the live ones.
type ownerCookies struct {
	others map[flows.Owner][]uint64 // every owner but static bindings
	// pages hold the hashes of static binding ID i's flows in page
	// i>>hashPageBits, up to inlineHashes of them; more lists the cookies
	// of the few with more.
	pages  []*hashPage
	more   map[uint32][]uint64
	owners int // owners with flows in pages
}

// inlineHashes is how many flows of a static binding the table holds in
// place: a binding with one IP has two.
const inlineHashes = 2

// hashPageBits sizes a page: 1,024 bindings, 12 KiB.
const hashPageBits = 10

// hashPage holds the hashes of 1<<hashPageBits consecutive binding IDs.
type hashPage struct {
	owners  int // bindings of the page with flows
	entries [1 << hashPageBits]bindingHashes
}

// bindingHashes are the content hashes of a static binding's first n
// flows; n above inlineHashes says its cookies are in ownerCookies.more.
type bindingHashes struct {
	n uint8
	h [inlineHashes]uint32
}

func newOwnerCookies() ownerCookies {
	return ownerCookies{others: map[flows.Owner][]uint64{}, more: map[uint32][]uint64{}}
}

// inTable reports whether o's cookies are kept in the binding pages.
func inTable(o flows.Owner) bool {
	return o.Kind == flows.KindBinding && o.Origin == flows.OriginStatic
}

// len returns the number of owners with flows.
func (oc *ownerCookies) len() int { return len(oc.others) + oc.owners }

// entry returns binding id's hashes, nil if its page does not exist (it
// has no flows).
func (oc *ownerCookies) entry(id uint32) *bindingHashes {
	if p := int(id >> hashPageBits); p < len(oc.pages) && oc.pages[p] != nil {
		return &oc.pages[p].entries[id&(1<<hashPageBits-1)]
	}
	return nil
}

// has reports whether o has flows.
func (oc *ownerCookies) has(o flows.Owner) bool {
	if !inTable(o) {
		_, ok := oc.others[o]
		return ok
	}
	b := oc.entry(o.ID)
	return b != nil && b.n > 0
}

// count returns the number of o's flows.
func (oc *ownerCookies) count(o flows.Owner) int {
	if !inTable(o) {
		return len(oc.others[o])
	}
	b := oc.entry(o.ID)
	switch {
	case b == nil:
		return 0
	case b.n <= inlineHashes:
		return int(b.n)
	}
	return len(oc.more[o.ID])
}

// get returns o's cookies (none if it has no flows). The caller may keep
// them: the table never changes a slice it handed out.
func (oc *ownerCookies) get(o flows.Owner) []uint64 {
	return oc.appendCookies(nil, o)
}

// appendCookies appends o's cookies to buf.
func (oc *ownerCookies) appendCookies(buf []uint64, o flows.Owner) []uint64 {
	if !inTable(o) {
		return append(buf, oc.others[o]...)
	}
	b := oc.entry(o.ID)
	switch {
	case b == nil:
		return buf
	case b.n > inlineHashes:
		return append(buf, oc.more[o.ID]...)
	}
	for _, h := range b.h[:b.n] {
		buf = append(buf, o.Cookie(h))
	}
	return buf
}

// add adds cookie c to o's flows.
func (oc *ownerCookies) add(o flows.Owner, c uint64) {
	if !inTable(o) {
		oc.others[o] = append(oc.others[o], c)
		return
	}
	b := oc.slot(o.ID)
	switch {
	case b.n == 0:
		oc.counted(o.ID, 1)
		fallthrough
	case b.n < inlineHashes:
		b.h[b.n] = uint32(c)
		b.n++
	case b.n == inlineHashes:
		oc.more[o.ID] = append(oc.appendCookies(make([]uint64, 0, inlineHashes+1), o), c)
		b.n = inlineHashes + 1
	default:
		oc.more[o.ID] = append(oc.more[o.ID], c)
	}
}

// set makes cs o's cookies (none: o has no flows). The table may keep cs.
func (oc *ownerCookies) set(o flows.Owner, cs []uint64) {
	if !inTable(o) {
		if len(cs) == 0 {
			delete(oc.others, o)
		} else {
			oc.others[o] = cs
		}
		return
	}
	if len(cs) == 0 {
		if b := oc.entry(o.ID); b != nil && b.n > 0 {
			if b.n > inlineHashes {
				delete(oc.more, o.ID)
			}
			b.n = 0
			oc.counted(o.ID, -1)
		}
		return
	}
	b := oc.slot(o.ID)
	if b.n == 0 {
		oc.counted(o.ID, 1)
	}
	if b.n > inlineHashes {
		delete(oc.more, o.ID)
	}
	if len(cs) > inlineHashes {
		oc.more[o.ID] = cs
		b.n = inlineHashes + 1
		return
	}
	b.n = uint8(len(cs))
	for i, c := range cs {
		b.h[i] = uint32(c)
	}
}

// slot returns binding id's entry, making its page if need be.
func (oc *ownerCookies) slot(id uint32) *bindingHashes {
	p := int(id >> hashPageBits)
	if p >= len(oc.pages) {
		oc.pages = append(oc.pages, make([]*hashPage, p+1-len(oc.pages))...)
	}
	if oc.pages[p] == nil {
		oc.pages[p] = &hashPage{}
	}
	return &oc.pages[p].entries[id&(1<<hashPageBits-1)]
}

// counted notes that binding id came to have flows (delta 1) or no longer
// has (-1); a page left with none goes.
func (oc *ownerCookies) counted(id uint32, delta int) {
	oc.owners += delta
	p := oc.pages[id>>hashPageBits]
	if p.owners += delta; p.owners == 0 {
		oc.pages[id>>hashPageBits] = nil
	}
}

// each calls fn with every owner that has flows and its cookies, until fn
// returns false. cs is fn's only during the call.
func (oc *ownerCookies) each(fn func(o flows.Owner, cs []uint64) bool) {
	for o, cs := range oc.others {
		if !fn(o, cs) {
			return
		}
	}
	var buf [inlineHashes]uint64
	for p, page := range oc.pages {
		if page == nil {
			continue
		}
		for i := range page.entries {
			if page.entries[i].n == 0 {
				continue
			}
			o := flows.Owner{Kind: flows.KindBinding, ID: uint32(p<<hashPageBits | i)}
			if !fn(o, oc.appendCookies(buf[:0], o)) {
				return
			}
		}
	}
}

// otherOwners returns the owners with flows that are not static bindings.
func (oc *ownerCookies) otherOwners() []flows.Owner {
	return slices.Collect(maps.Keys(oc.others))
}
