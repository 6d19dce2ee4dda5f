package ovsdb

import (
	"errors"
	"fmt"

	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/l2gw/l2gw/ovsdb/vswitch"
)

// SSLConfig is what ovs-vswitchd uses for its ssl: connections, l2gwd's
// controller connection among them: paths of PEM files as ovs-vswitchd sees
// them. OVS has one SSL table row for all its ssl: connections (other
// bridges' controllers, managers, and ovsdb-server's own when it is started
// with --private-key=db:Open_vSwitch,SSL,private_key as ovs-ctl does).
type SSLConfig struct {
	PrivateKey  string // the switch's private key
	Certificate string // the switch's certificate, signed by a CA l2gwd trusts
	CACert      string // the CA that signed l2gwd's certificate
}

// sslOps makes Open_vSwitch.ssl hold want, with bootstrap_ca_cert off (OVS
// must not trust whatever CA the first peer sends). An existing SSL row is
// updated in place; without one, a row owned by l2gwd is inserted. It returns
// no operation when the row is already right.
func (c *Client) sslOps(s *snapshot, want SSLConfig) ([]ovsdb.Operation, error) {
	if s.root == "" {
		return nil, errors.New("the database has no Open_vSwitch row (not initialised: ovs-vsctl init)")
	}
	if cur := s.ssl; cur != nil {
		if cur.PrivateKey == want.PrivateKey && cur.Certificate == want.Certificate &&
			cur.CaCert == want.CACert && !cur.BootstrapCaCert {
			return nil, nil
		}
		row := *cur
		row.PrivateKey, row.Certificate, row.CaCert, row.BootstrapCaCert = want.PrivateKey, want.Certificate, want.CACert, false
		ops, err := c.ovs.Where(&vswitch.SSL{UUID: cur.UUID}).Update(&row,
			&row.PrivateKey, &row.Certificate, &row.CaCert, &row.BootstrapCaCert)
		if err != nil {
			return nil, fmt.Errorf("update ssl settings: %w", err)
		}
		return ops, nil
	}
	row := &vswitch.SSL{
		UUID:        "l2gw_ssl",
		PrivateKey:  want.PrivateKey,
		Certificate: want.Certificate,
		CaCert:      want.CACert,
		ExternalIDs: ownerIDs(),
	}
	ops, err := c.ovs.Create(row)
	if err != nil {
		return nil, fmt.Errorf("create ssl settings: %w", err)
	}
	root := &vswitch.OpenvSwitch{UUID: s.root, SSL: &row.UUID}
	point, err := c.ovs.Where(root).Update(root, &root.SSL)
	if err != nil {
		return nil, fmt.Errorf("set Open_vSwitch ssl: %w", err)
	}
	return append(ops, point...), nil
}
