package flows

import (
	"encoding/binary"
	"fmt"

	"github.com/contiv/libOpenflow/openflow13"
)

// bundleAddHeaderLen is the size of an ONF bundle-add message (the OpenFlow
// 1.3 extension that OpenFlow 1.4 made OFPT_BUNDLE_ADD_MESSAGE) before the
// message it carries: ofp_header, experimenter id and type, bundle id, pad,
// flags.
const bundleAddHeaderLen = 24

// onfBundleAdd is ONF's experimenter type of a bundle add.
const onfBundleAdd = 2301

// appendBundleAdd sets m's xid (bytes 4-7) to xid and appends to b the
// bundle-add message that puts m (a flow_mod or a group_mod) into bundle
// bundleID, opened with flags. The bundle add has m's xid too: the switch
// names it in an error about m.
func appendBundleAdd(b []byte, bundleID uint32, flags uint16, xid uint32, m Mod) ([]byte, error) {
	if !m.wellFormed() {
		return b, fmt.Errorf("malformed flow_mod or group_mod of %d bytes", len(m))
	}
	if n := bundleAddHeaderLen + len(m); n > MaxMessageLen {
		return b, fmt.Errorf("bundle add of %d bytes, over OpenFlow's limit of %d", n, MaxMessageLen)
	}
	binary.BigEndian.PutUint32(m[4:8], xid)
	b = append(b, openflow13.VERSION, openflow13.Type_Experimenter)
	b = binary.BigEndian.AppendUint16(b, uint16(bundleAddHeaderLen+len(m)))
	b = binary.BigEndian.AppendUint32(b, xid)
	b = binary.BigEndian.AppendUint32(b, openflow13.ONF_EXPERIMENTER_ID)
	b = binary.BigEndian.AppendUint32(b, onfBundleAdd)
	b = binary.BigEndian.AppendUint32(b, bundleID)
	b = append(b, 0, 0)
	b = binary.BigEndian.AppendUint16(b, flags)
	return append(b, m...), nil
}
