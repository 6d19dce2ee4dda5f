package app

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// The bbolt file layout. Every mutation is written in one read-write
// transaction (concurrent AddMACs calls may share one), so a crash leaves a
// change (a whole MAC batch included) applied or not at all.
//
//	meta             schema_version → "1"; next_id.<kind> → uint32 (ID cursors)
//	networks         name → networkRecord (JSON)
//	remote_gateways  name → gatewayRecord (JSON)
//	bgp_peers        name → bgpPeerRecord (JSON), its password included
//	connections      name → connectionRecord (JSON)
//	macs             connection name, 0x00, 6 MAC bytes → binding value
//	derived_connections  derived connection name → derivedRecord (JSON):
//	                 the connections dynamic origins named (see derived.go)
//	feed_networks    ORIGIN:NAME → feedNetworkRecord (JSON): the networks
//	                 dynamic origins told (see feednetworks.go)
//
// A binding value is its ID (uint32, big-endian) followed by each IP as a
// length byte (4 or 16) and the address bytes. MAC keys start with their
// connection's name and a 0x00 (never part of a name), so a connection's set
// is one key range: listed and deleted by prefix.
const (
	dbFileName    = "l2gw.db"
	schemaVersion = "1"
	lockTimeout   = time.Second
	// initialMmapSize is address space, not disk: a store smaller than this
	// is never remapped while it grows, and a remap would copy every key
	// and value a large batch has pending (a 100k-binding batch into an
	// empty store spent most of its allocations there).
	initialMmapSize = 1 << 30
	// batchDelay is how long a shared transaction (AddMACs calls in
	// flight together, db.Batch) waits for more calls before it commits.
	// About two fsyncs here: with 16 API clients, 1 ms made 3,900-4,100
	// creates/s end to end, 0.5 ms 2,800-2,900 and 2 ms 3,600. A call
	// with no other in flight does not wait (AddMACs).
	batchDelay = time.Millisecond
)

var (
	bucketMeta     = []byte("meta")
	bucketNetworks = []byte("networks")
	bucketGateways = []byte("remote_gateways")
	bucketConns    = []byte("connections")
	bucketMACs     = []byte("macs")
	bucketDerived  = []byte("derived_connections")
	bucketBGPPeers = []byte("bgp_peers")
	// bucketFeedNetworks is apart from networks so that what reads the
	// API's networks (ReadBGPConfig, an earlier release) never takes a
	// dynamic origin's for one.
	bucketFeedNetworks = []byte("feed_networks")
	keySchema          = []byte("schema_version")
	allBuckets         = [][]byte{bucketMeta, bucketNetworks, bucketGateways, bucketConns, bucketMACs, bucketDerived, bucketBGPPeers, bucketFeedNetworks}
)

// ID kinds, as named in the cursor keys.
const (
	kindNetwork    = "network"
	kindConnection = "connection"
	kindMAC        = "mac"
)

// The records of networks, remote gateways, connections and BGP peers:
// their JSON, field names included, is the file format (schema 1). Fields
// added later are left out when unset, so that a store without them reads
// as before and what an earlier release could store is written as it
// wrote it.
type networkRecord struct {
	ID          uint32             `json:"id"`
	Name        string             `json:"name"`
	Attachments []attachmentRecord `json:"attachments"`
	EVPN        *evpnRecord        `json:"evpn,omitempty"`
}

type evpnRecord struct {
	VNI       uint32   `json:"vni"`
	ImportRTs []string `json:"import_rts,omitempty"`
	ExportRTs []string `json:"export_rts,omitempty"`
}

type attachmentRecord struct {
	Port string `json:"port"`
	VLAN uint16 `json:"vlan,omitempty"`
}

// gatewayRecord keeps a gateway's first endpoint in tunnel_ip, as an
// earlier release wrote it (and reads it: a downgraded l2gwd keeps the
// first endpoint), and the whole list in tunnel_ips only when there are
// several.
type gatewayRecord struct {
	Name      string   `json:"name"`
	TunnelIP  string   `json:"tunnel_ip"`
	TunnelIPs []string `json:"tunnel_ips,omitempty"`
}

type bgpPeerRecord struct {
	Name      string `json:"name"`
	Address   string `json:"address"`
	ASN       uint32 `json:"asn"`
	Port      uint16 `json:"port,omitempty"`
	Password  string `json:"password,omitempty"`
	HoldTime  uint16 `json:"hold_time,omitempty"`
	Keepalive uint16 `json:"keepalive,omitempty"`
	MaxRoutes uint32 `json:"max_routes,omitempty"`
}

type connectionRecord struct {
	ID             uint32 `json:"id"`
	Name           string `json:"name"`
	Network        string `json:"network"`
	RemoteGateway  string `json:"remote_gateway"`
	SegmentationID uint32 `json:"segmentation_id"`
	NetworkType    string `json:"network_type"`
	Flood          bool   `json:"flood"`
}

// derivedRecord is what the store remembers of a derived connection: its
// ID and tunnel, and the origins that named it (by name), so that a
// restarted l2gwd keeps it, with the same ID, until they are synced.
type derivedRecord struct {
	ID             uint32                   `json:"id"`
	Network        string                   `json:"network"`
	Endpoint       string                   `json:"endpoint"`
	NetworkType    string                   `json:"network_type"`
	SegmentationID uint32                   `json:"segmentation_id"`
	Origins        map[string]derivedOrigin `json:"origins"`
}

// feedNetworkRecord is what the store remembers of a network a dynamic
// origin told: its ID and attachments, so that a restarted l2gwd has it,
// with the same ID, until the origin is synced.
type feedNetworkRecord struct {
	ID          uint32             `json:"id"`
	Origin      string             `json:"origin"`
	Name        string             `json:"name"`
	Attachments []attachmentRecord `json:"attachments"`
}

// derivedOrigin is what one origin said of a derived connection.
type derivedOrigin struct {
	Flood bool `json:"flood"`
}

// openDB opens (creating if needed) the store in dataDir and makes sure its
// buckets exist and its schema is the one this code reads.
func openDB(dataDir string) (*bolt.DB, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dataDir, dbFileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout, InitialMmapSize: initialMmapSize})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("data directory %s is in use by another l2gwd (%s is locked)", dataDir, path)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.MaxBatchDelay = batchDelay
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get(keySchema); {
		case v == nil:
			return meta.Put(keySchema, []byte(schemaVersion))
		case string(v) != schemaVersion:
			return fmt.Errorf("schema version %q, this l2gwd reads %q", v, schemaVersion)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialise %s: %w", path, err)
	}
	return db, nil
}

func putJSON(tx *bolt.Tx, bucket []byte, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s %s: %w", bucket, key, err)
	}
	if err := tx.Bucket(bucket).Put([]byte(key), data); err != nil {
		return fmt.Errorf("put %s %s: %w", bucket, key, err)
	}
	return nil
}

func deleteKey(tx *bolt.Tx, bucket []byte, key string) error {
	if err := tx.Bucket(bucket).Delete([]byte(key)); err != nil {
		return fmt.Errorf("delete %s %s: %w", bucket, key, err)
	}
	return nil
}

func putNetwork(tx *bolt.Tx, n Network) error {
	r := networkRecord{ID: n.ID, Name: n.Name, Attachments: make([]attachmentRecord, len(n.Attachments))}
	for i, a := range n.Attachments {
		r.Attachments[i] = attachmentRecord{Port: a.Port, VLAN: a.VLAN}
	}
	if e := n.EVPN; e != nil {
		r.EVPN = &evpnRecord{VNI: e.VNI, ImportRTs: e.ImportRTs, ExportRTs: e.ExportRTs}
	}
	return putJSON(tx, bucketNetworks, n.Name, r)
}

func putGateway(tx *bolt.Tx, g RemoteGateway) error {
	r := gatewayRecord{Name: g.Name, TunnelIP: g.TunnelIP}
	if len(g.TunnelIPs) > 1 {
		r.TunnelIPs = g.TunnelIPs
	}
	return putJSON(tx, bucketGateways, g.Name, r)
}

func putBGPPeer(tx *bolt.Tx, p BGPPeer) error {
	return putJSON(tx, bucketBGPPeers, p.Name, bgpPeerRecord{
		Name: p.Name, Address: p.Address, ASN: p.ASN, Port: p.Port, Password: p.Password,
		HoldTime: p.HoldTime, Keepalive: p.Keepalive, MaxRoutes: p.MaxRoutes,
	})
}

func putConnection(tx *bolt.Tx, c Connection) error {
	return putJSON(tx, bucketConns, c.Name, connectionRecord{
		ID: c.ID, Name: c.Name, Network: c.Network, RemoteGateway: c.RemoteGateway,
		SegmentationID: c.SegmentationID, NetworkType: c.NetworkType, Flood: c.Flood,
	})
}

func putCursor(tx *bolt.Tx, kind string, next uint32) error {
	if err := tx.Bucket(bucketMeta).Put(cursorKey(kind), binary.BigEndian.AppendUint32(nil, next)); err != nil {
		return fmt.Errorf("put %s ID cursor: %w", kind, err)
	}
	return nil
}

func cursorKey(kind string) []byte { return []byte("next_id." + kind) }

func macPrefix(conn string) []byte { return append([]byte(conn), 0) }

func macKey(prefix []byte, hw [6]byte) []byte { return append(prefix, hw[:]...) }

// putMACs writes bindings of conn. Keys go in sorted order: bbolt inserts a
// sorted run by appending, where a random order would shift node contents
// on every insert.
func putMACs(tx *bolt.Tx, conn string, entries []macEntry) error {
	sorted := make([]*macEntry, len(entries))
	size := 0
	for i := range entries {
		sorted[i] = &entries[i]
		size += 4 + 17*len(entries[i].addrs)
	}
	slices.SortFunc(sorted, func(a, b *macEntry) int { return bytes.Compare(a.hw[:], b.hw[:]) })
	// bbolt keeps value slices until commit: carve them all from one buffer.
	values := make([]byte, 0, size)
	b := tx.Bucket(bucketMACs)
	prefix := macPrefix(conn)
	key := make([]byte, 0, len(prefix)+6)
	for _, e := range sorted {
		start := len(values)
		values = binary.BigEndian.AppendUint32(values, e.ID)
		for _, a := range e.addrs {
			if a.Is4() {
				ip := a.As4()
				values = append(append(values, 4), ip[:]...)
			} else {
				ip := a.As16()
				values = append(append(values, 16), ip[:]...)
			}
		}
		if err := b.Put(macKey(append(key[:0], prefix...), e.hw), values[start:len(values):len(values)]); err != nil {
			return fmt.Errorf("put mac %s of %s: %w", formatMAC(e.hw), conn, err)
		}
	}
	return nil
}

// deleteMACs deletes every binding of conn.
func deleteMACs(tx *bolt.Tx, conn string) error {
	b := tx.Bucket(bucketMACs)
	prefix := macPrefix(conn)
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("delete bindings of %s: %w", conn, err)
		}
	}
	return nil
}

func deleteMAC(tx *bolt.Tx, conn string, hw [6]byte) error {
	if err := tx.Bucket(bucketMACs).Delete(macKey(macPrefix(conn), hw)); err != nil {
		return fmt.Errorf("delete mac of %s: %w", conn, err)
	}
	return nil
}

// releasePages drops the store file's pages from the process's resident
// set. Loading read every page through bbolt's memory map; from then on
// reads are served from memory and a write touches only the pages on its
// path, so the loaded pages would only sit in the resident set (13 MB at
// 100,000 bindings). The map is read-only and shared: the pages stay in the
// page cache, and bbolt faults back in what it reads.
func releasePages(db *bolt.DB) error {
	var size int64
	if err := db.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil }); err != nil {
		return err
	}
	if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, db.Info().Data, uintptr(size), syscall.MADV_DONTNEED); errno != 0 {
		return fmt.Errorf("madvise %s: %w", db.Path(), errno)
	}
	return nil
}

// storedState is everything the store holds, decoded.
type storedState struct {
	networks    []Network
	gateways    []RemoteGateway
	peers       []BGPPeer
	connections []Connection
	macs        map[string][]macEntry    // by connection name
	cursors     map[string]uint32        // by ID kind
	derived     map[string]derivedRecord // by derived connection name
	// feedNetworks are the records of feed networks, by record name.
	feedNetworks map[string]feedNetworkRecord
}

// loadDB reads the whole store.
func loadDB(db *bolt.DB) (*storedState, error) {
	st := &storedState{macs: make(map[string][]macEntry), cursors: make(map[string]uint32), derived: make(map[string]derivedRecord),
		feedNetworks: make(map[string]feedNetworkRecord)}
	err := db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		for _, kind := range []string{kindNetwork, kindConnection, kindMAC} {
			if v := meta.Get(cursorKey(kind)); len(v) == 4 {
				st.cursors[kind] = binary.BigEndian.Uint32(v)
			}
		}
		var err error
		if st.networks, err = loadNetworks(tx); err != nil {
			return err
		}
		err = tx.Bucket(bucketGateways).ForEach(func(k, v []byte) error {
			var r gatewayRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("remote gateway %s: %w", k, err)
			}
			g := RemoteGateway{Name: r.Name, TunnelIP: r.TunnelIP, TunnelIPs: r.TunnelIPs}
			switch {
			case len(g.TunnelIPs) == 0:
				g.TunnelIPs = []string{g.TunnelIP}
			case g.TunnelIPs[0] != g.TunnelIP:
				return fmt.Errorf("remote gateway %s: tunnel_ip %s is not tunnel_ips[0] %s", k, g.TunnelIP, g.TunnelIPs[0])
			}
			st.gateways = append(st.gateways, g)
			return nil
		})
		if err != nil {
			return err
		}
		if st.peers, err = loadBGPPeers(tx); err != nil {
			return err
		}
		err = tx.Bucket(bucketConns).ForEach(func(k, v []byte) error {
			var r connectionRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("connection %s: %w", k, err)
			}
			st.connections = append(st.connections, Connection{
				ID: r.ID, Name: r.Name, Network: r.Network, RemoteGateway: r.RemoteGateway,
				SegmentationID: r.SegmentationID, NetworkType: r.NetworkType, Flood: r.Flood,
			})
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketMACs).ForEach(func(k, v []byte) error {
			conn, e, err := decodeMAC(k, v)
			if err != nil {
				return fmt.Errorf("mac key %x: %w", k, err)
			}
			st.macs[conn] = append(st.macs[conn], e)
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketDerived).ForEach(func(k, v []byte) error {
			var r derivedRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("derived connection %s: %w", k, err)
			}
			st.derived[string(k)] = r
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketFeedNetworks).ForEach(func(k, v []byte) error {
			var r feedNetworkRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("feed network %s: %w", k, err)
			}
			st.feedNetworks[string(k)] = r
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", db.Path(), err)
	}
	return st, nil
}

// loadNetworks reads the networks bucket.
func loadNetworks(tx *bolt.Tx) ([]Network, error) {
	var out []Network
	err := tx.Bucket(bucketNetworks).ForEach(func(k, v []byte) error {
		var r networkRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("network %s: %w", k, err)
		}
		n := Network{ID: r.ID, Name: r.Name, Attachments: make([]Attachment, len(r.Attachments))}
		for i, a := range r.Attachments {
			n.Attachments[i] = Attachment{Port: a.Port, VLAN: a.VLAN}
		}
		if e := r.EVPN; e != nil {
			n.EVPN = &EVPN{VNI: e.VNI, ImportRTs: e.ImportRTs, ExportRTs: e.ExportRTs}
		}
		out = append(out, n)
		return nil
	})
	return out, err
}

// loadBGPPeers reads the BGP peers bucket.
func loadBGPPeers(tx *bolt.Tx) ([]BGPPeer, error) {
	var out []BGPPeer
	err := tx.Bucket(bucketBGPPeers).ForEach(func(k, v []byte) error {
		var r bgpPeerRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("bgp peer %s: %w", k, err)
		}
		out = append(out, BGPPeer{
			Name: r.Name, Address: r.Address, ASN: r.ASN, Port: r.Port, Password: r.Password,
			HoldTime: r.HoldTime, Keepalive: r.Keepalive, MaxRoutes: r.MaxRoutes,
		})
		return nil
	})
	return out, err
}

// ReadBGPConfig reads, from the store in dataDir, only what a BGP speaker
// needs to start: the peers (sorted by name) and the networks in EVPN
// (sorted by name). It is cheap whatever the number of bindings, so that
// a restarted l2gwd is back in its peers' tables before it loads the rest;
// Open then loads the whole store as usual. No store yet: nothing, no
// error.
func ReadBGPConfig(dataDir string) ([]BGPPeer, []Network, error) {
	path := filepath.Join(dataDir, dbFileName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: lockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, nil, fmt.Errorf("data directory %s is in use by another l2gwd (%s is locked)", dataDir, path)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	var peers []BGPPeer
	var nets []Network
	err = db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketNetworks) == nil || tx.Bucket(bucketBGPPeers) == nil {
			return nil // a store of before BGP: no peer
		}
		var err error
		if peers, err = loadBGPPeers(tx); err != nil {
			return err
		}
		all, err := loadNetworks(tx)
		for _, n := range all {
			if n.EVPN != nil {
				nets = append(nets, n)
			}
		}
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read BGP configuration from %s: %w", path, err)
	}
	slices.SortFunc(peers, func(a, b BGPPeer) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(nets, func(a, b Network) int { return strings.Compare(a.Name, b.Name) })
	return peers, nets, nil
}

func decodeMAC(k, v []byte) (string, macEntry, error) {
	var e macEntry
	sep := bytes.IndexByte(k, 0)
	if sep < 0 || len(k)-sep-1 != len(e.hw) || len(v) < 4 {
		return "", e, errors.New("malformed binding")
	}
	copy(e.hw[:], k[sep+1:])
	e.ID = binary.BigEndian.Uint32(v)
	for rest := v[4:]; len(rest) > 0; {
		n := int(rest[0])
		if (n != 4 && n != 16) || len(rest) < 1+n {
			return "", e, errors.New("malformed binding IPs")
		}
		a, _ := netip.AddrFromSlice(rest[1 : 1+n])
		e.addrs = append(e.addrs, a)
		rest = rest[1+n:]
	}
	return string(k[:sep]), e, nil
}
