package app

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// FuzzParseMAC checks parseMAC against an independent reading of the four
// notations net.ParseMAC documents for 6-byte MACs: it accepts exactly the
// unicast, non-zero ones, deterministically, in canonical form, and the
// canonical form parses back to itself.
func FuzzParseMAC(f *testing.F) {
	for _, s := range []string{
		"02:00:5e:10:00:01", "02-00-5E-10-00-01", "0200.5e10.0001", "02:00:5E:10:00:01",
		"00:00:5e:00:53:01", "fe:ff:ff:ff:ff:ff",
		"00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:fb", "33:33:00:00:00:01",
		"02:00:5e:10:00:01:02:03", "02:00:5e:10:00", "02:00:5e:10:00:1", "02:00-5e:10:00:01",
		"02:00:5e:10:00:0g", "0200.5e10.0001.0203", "02005e100001", "02005E10000g", "02005e1000", " 02:00:5e:10:00:01", "",
		"+2:00:5e:10:00:01",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var scratch [64]byte
		hw, canon, msg := parseMAC(s, &scratch)
		hw2, canon2, msg2 := parseMAC(s, &scratch)
		if hw != hw2 || canon != canon2 || msg != msg2 {
			t.Fatalf("parseMAC(%q) gave %x %q %q, then %x %q %q", s, hw, canon, msg, hw2, canon2, msg2)
		}
		want, ok := readMACNotation(s)
		unicast := ok && want != [6]byte{} && want[0]&1 == 0
		if (msg == "") != unicast {
			t.Fatalf("parseMAC(%q) = %x %q, error %q; want accepted = %v (read as %x, %v)", s, hw, canon, msg, unicast, want, ok)
		}
		if msg != "" {
			if canon != "" {
				t.Fatalf("parseMAC(%q) refused (%s) but returned %q", s, msg, canon)
			}
			return
		}
		if hw != want || canon != colonMAC(want) {
			t.Fatalf("parseMAC(%q) = %x %q, want %x %q", s, hw, canon, want, colonMAC(want))
		}
		if again, canonAgain, msg := parseMAC(canon, &scratch); again != hw || canonAgain != canon || msg != "" {
			t.Fatalf("canonical %q of %q parses back as %x %q %q", canon, s, again, canonAgain, msg)
		}
	})
}

// FuzzParseMACs checks parseMACs on batches decoded from text (one binding
// a line: the MAC, then its IPs, separated by spaces): deterministic, the
// input left alone, exactly the valid batches accepted (else the first
// offending field named), and the accepted batch normalised so that parsing
// it again gives the same bindings.
func FuzzParseMACs(f *testing.F) {
	for _, s := range []string{
		"02:00:00:00:00:01 192.0.2.1",
		"02:00:00:00:00:01 192.0.2.1 2001:db8::1\n02-00-00-00-00-02\n0200.0000.0003 198.51.100.3\n02000000000B",
		"02:00:00:00:00:0A ::ffff:192.0.2.10 2001:DB8:0:0:0:0:0:A 2001:0db8::b",
		"02:00:00:00:00:01 fe80::1 169.254.0.1 127.0.0.1",
		"",
		"\n",
		"02:00:00:00:00:01 ",
		"02:00:00:00:00:01\n02-00-00-00-00-01",
		"02:00:00:00:00:01 192.0.2.1 192.0.2.1",
		"02:00:00:00:00:01 192.0.2.1\n02:00:00:00:00:02 ::ffff:192.0.2.1",
		"02:00:00:00:00:01 192.0.2.1\n02:00:00:00:00:02 2001:db8::1 192.0.2.1",
		"ff:ff:ff:ff:ff:ff 192.0.2.1",
		"01:00:5e:00:00:01",
		"00:00:00:00:00:00",
		"02:00:00:00:00:01 0.0.0.0",
		"02:00:00:00:00:01 ::",
		"02:00:00:00:00:01 255.255.255.255",
		"02:00:00:00:00:01 224.0.0.1",
		"02:00:00:00:00:01 ff02::1",
		"02:00:00:00:00:01 fe80::1%eth0",
		"02:00:00:00:00:01 192.0.2.256",
		"02:00:00:00:00:01 192.0.2.1/32",
		"02:00:00:00:00:01 0192.0.2.1",
		"02:00:00:00:00:01 192.0.2.1\n02:00:00:00:00:01:00:00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		in := decodeMACBatch(text)
		kept := cloneMACBatch(in)
		out, err := parseMACs(in)
		if !reflect.DeepEqual(in, kept) {
			t.Fatalf("parseMACs changed its input %+v to %+v", kept, in)
		}
		out2, err2 := parseMACs(in)
		if !reflect.DeepEqual(out, out2) || !reflect.DeepEqual(err, err2) {
			t.Fatalf("parseMACs(%+v) gave %+v, %v then %+v, %v", in, out, err, out2, err2)
		}
		at := firstInvalid(in)
		if err != nil {
			var appErr *Error
			if !errors.As(err, &appErr) || appErr.Kind != Invalid || !slices.Equal(appErr.Path, at) || appErr.Message == "" {
				t.Fatalf("parseMACs(%+v) refused with %#v, want an Invalid error at %v", in, err, at)
			}
			if out != nil {
				t.Fatalf("parseMACs(%+v) refused but returned %+v", in, out)
			}
			return
		}
		if at != nil {
			t.Fatalf("parseMACs(%+v) accepted %+v, but %v is invalid", in, out, at)
		}
		checkNormalisedBatch(t, in, out)
		again, err := parseMACs(entryBindings(out))
		if err != nil || !reflect.DeepEqual(again, out) {
			t.Fatalf("normalised batch %+v parses back as %+v, %v", out, again, err)
		}
	})
}

// readMACNotation reads a 6-byte MAC in one of the notations net.ParseMAC
// documents: 00:00:5e:00:53:01, 00-00-5e-00-53-01, 0000.5e00.5301,
// 00005e005301 (hex digits of either case).
func readMACNotation(s string) ([6]byte, bool) {
	var hw [6]byte
	var digits string
	switch {
	case len(s) == 17 && (s[2] == ':' || s[2] == '-'):
		for i := 0; i < 17; i += 3 {
			if i > 0 && s[i-1] != s[2] {
				return hw, false
			}
			digits += s[i : i+2]
		}
	case len(s) == 14 && s[4] == '.' && s[9] == '.':
		digits = s[0:4] + s[5:9] + s[10:14]
	case len(s) == 12:
		digits = s
	default:
		return hw, false
	}
	for i := range hw {
		hi, ok1 := hexDigit(digits[2*i])
		lo, ok2 := hexDigit(digits[2*i+1])
		if !ok1 || !ok2 {
			return hw, false
		}
		hw[i] = hi<<4 | lo
	}
	return hw, true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// colonMAC is hw in lowercase colon form.
func colonMAC(hw [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", hw[0], hw[1], hw[2], hw[3], hw[4], hw[5])
}

// readBindingIP reads a binding's IP the way the API documents it: an IPv4 or
// IPv6 address without zone (IPv4-mapped IPv6 taken as IPv4) that is a
// host's unicast address.
func readBindingIP(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	a = a.Unmap()
	if a.IsUnspecified() || a.IsMulticast() || a == netip.MustParseAddr("255.255.255.255") {
		return netip.Addr{}, false
	}
	return a, true
}

// firstInvalid is the path of in's first invalid value, in request order
// (a binding's MAC, then its IPs), or nil when the batch is valid.
func firstInvalid(in MACBindings) Path {
	macs := map[[6]byte]bool{}
	ips := map[netip.Addr]bool{}
	for i, b := range in {
		hw, ok := readMACNotation(b.MAC)
		if !ok || hw == [6]byte{} || hw[0]&1 != 0 || macs[hw] {
			return At(FieldMACs).Index(i).Field(FieldMAC)
		}
		macs[hw] = true
		for k, s := range b.IPs {
			a, ok := readBindingIP(s)
			if !ok || ips[a] {
				return At(FieldMACs).Index(i).Field(FieldIPs).Index(k)
			}
			ips[a] = true
		}
	}
	return nil
}

// checkNormalisedBatch checks that out is in, valid, normalised and in order.
func checkNormalisedBatch(t *testing.T, in MACBindings, out []macEntry) {
	t.Helper()
	if len(out) != len(in) {
		t.Fatalf("parseMACs of %d bindings returned %d", len(in), len(out))
	}
	for i, e := range out {
		hw, _ := readMACNotation(in[i].MAC)
		b := e.binding()
		if e.hw != hw || b.MAC != colonMAC(hw) || e.ID != 0 {
			t.Fatalf("binding %d: %q parsed as %+v, want %x %q without ID", i, in[i].MAC, b, hw, colonMAC(hw))
		}
		if len(b.IPs) != len(in[i].IPs) || len(e.addrs) != len(in[i].IPs) {
			t.Fatalf("binding %d: IPs %q parsed as %q %v", i, in[i].IPs, b.IPs, e.addrs)
		}
		for k, s := range in[i].IPs {
			a, _ := readBindingIP(s)
			if e.addrs[k] != a || b.IPs[k] != a.String() {
				t.Fatalf("binding %d: ip %q parsed as %q %v, want %q", i, s, b.IPs[k], e.addrs[k], a)
			}
		}
	}
}

// decodeMACBatch reads one binding a line: the MAC, then its IPs, separated by
// spaces.
func decodeMACBatch(text string) MACBindings {
	var out MACBindings
	for line := range strings.Lines(text) {
		fields := strings.Split(strings.TrimSuffix(line, "\n"), " ")
		b := MACBinding{MAC: fields[0]}
		if len(fields) > 1 {
			b.IPs = fields[1:]
		}
		out = append(out, b)
	}
	return out
}

func cloneMACBatch(in MACBindings) MACBindings {
	out := slices.Clone(in)
	for i := range out {
		out[i].IPs = slices.Clone(out[i].IPs)
	}
	return out
}

// entryBindings is the API form of parsed entries.
func entryBindings(entries []macEntry) MACBindings {
	out := make(MACBindings, len(entries))
	for i, e := range entries {
		out[i] = e.binding()
	}
	return out
}
