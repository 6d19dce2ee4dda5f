package api

import "testing"

func TestCookieText(t *testing.T) {
	c := Cookie(0xa1000001cd728697)
	text, _ := c.MarshalText()
	var back Cookie
	if string(text) != "0xa1000001cd728697" || back.UnmarshalText(text) != nil || back != c {
		t.Errorf("cookie text %s read back as %#x", text, uint64(back))
	}
	if back.UnmarshalText([]byte("a1")) == nil || back.UnmarshalText([]byte("0xzz")) == nil {
		t.Error("malformed cookies were accepted")
	}
}
