package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/l2gw/l2gw/app"
)

// A MAC batch (POST and PUT /v1/connections/{name}/macs) is the one body
// that grows with the state: a million bindings are about 70 MB of JSON. It
// is decoded as it arrives, binding by binding, into a macBatch, so the
// body is never whole in memory, in either of its two forms:
//
//   - application/json (or no Content-Type): {"macs":[{"mac":..,"ips":[..]},...]};
//   - application/x-ndjson: one binding object per line, the elements of
//     "macs" alone (blank lines are skipped).
//
// Both are all or nothing, as app makes every batch: a bad binding
// anywhere, the last one too, rejects the whole request (400, its field
// named macs[i]...) and changes nothing.
const (
	// maxBatchBodyBytes caps a MAC batch's body (every other body has
	// maxBodyBytes): a million bindings with one IPv4 address are about
	// 70 MB as JSON, 60 MB as NDJSON; with several IPv6 addresses each
	// about 150 MB. 256 MiB leaves that room and keeps the upload within
	// batchReadTimeout on a slow management link.
	maxBatchBodyBytes = 256 << 20
	// maxBatchBindings caps the bindings of one batch, whatever their
	// size: the decoded batch holds about 65 bytes per binding (a short
	// binding is 20 bytes of JSON, so the byte cap alone would let 13
	// million through) and app's checks about 200 more while it runs.
	// Two million is twice the largest gateway benchmarked (issue 15).
	maxBatchBindings = 2_000_000
)

// Media types of a MAC batch's body.
const (
	mediaJSON   = "application/json"
	mediaNDJSON = "application/x-ndjson"
)

// macBatch is a decoded batch of bindings, held compactly and handed to
// app as it is (an app.MACBatch): the MAC and IP texts exactly as the
// client sent them (app validates and normalises them, and its messages
// quote them), packed into large shared strings, with one string header
// per MAC and per IP. Binding allocates nothing.
type macBatch struct {
	macs []string // binding i's MAC
	// ipEnd[i] is where binding i's IPs end in ips; they start at
	// ipEnd[i-1] (0 for the first binding).
	ipEnd []uint32
	ips   []string
	text  textArena
}

// Len is the number of bindings.
func (b *macBatch) Len() int { return len(b.macs) }

// Binding is binding i as app takes it.
func (b *macBatch) Binding(i int) app.MACBinding {
	start := uint32(0)
	if i > 0 {
		start = b.ipEnd[i-1]
	}
	m := app.MACBinding{MAC: b.macs[i]}
	if end := b.ipEnd[i]; end > start {
		m.IPs = b.ips[start:end:end]
	}
	return m
}

// add appends binding m (its texts copied into the batch's own strings).
func (b *macBatch) add(m *MACBinding) {
	b.macs = append(b.macs, b.text.intern(m.MAC))
	for _, ip := range m.IPs {
		b.ips = append(b.ips, b.text.intern(ip))
	}
	b.ipEnd = append(b.ipEnd, uint32(len(b.ips)))
}

// firstTextChunk and textChunk bound the size of a textArena's strings:
// the first is small, each next one twice the last, up to textChunk. A
// batch of one binding (most requests) then costs 256 bytes, not a
// megabyte: at 2,000 creates a second a megabyte each had the collector
// tracing the whole state without a pause (1M bindings: creates/s and
// the incremental p99 both halved).
const (
	firstTextChunk = 256
	textChunk      = 1 << 20
)

// textArena packs many short strings into few large ones: each string it
// hands out is a substring of a chunk, a strings.Builder that only ever
// grows within its capacity, so the bytes already handed out never move
// or change.
type textArena struct {
	chunk strings.Builder
}

// intern returns a copy of s held in the arena.
func (a *textArena) intern(s string) string {
	if a.chunk.Cap()-a.chunk.Len() < len(s) {
		size := min(max(2*a.chunk.Cap(), firstTextChunk), textChunk)
		a.chunk = strings.Builder{} // the old chunk lives on in its substrings
		a.chunk.Grow(max(size, len(s)))
	}
	start := a.chunk.Len()
	a.chunk.WriteString(s)
	return a.chunk.String()[start:]
}

// batchMedia is the media type of a MAC batch's body (mediaJSON when it
// has no Content-Type), or a 415 rejection.
func batchMedia(r *http.Request) (string, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return mediaJSON, nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == mediaJSON || mt == mediaNDJSON) {
		return mt, nil
	}
	return "", &apiError{status: http.StatusUnsupportedMediaType, code: codeUnsupportedMedia,
		message: fmt.Sprintf("content type %q is not %s or %s", ct, mediaJSON, mediaNDJSON)}
}

// decodeMACs reads the batch of a POST or PUT, in either media type
// (mediaType says which it was); serve has capped the body at
// maxBatchBodyBytes.
func decodeMACs(r *http.Request) (batch *macBatch, mediaType string, err error) {
	if mediaType, err = batchMedia(r); err != nil {
		return nil, "", err
	}
	if mediaType == mediaNDJSON {
		batch, err = decodeNDJSONBatch(r.Body)
	} else {
		batch, err = decodeJSONBatch(r.Body)
	}
	return batch, mediaType, err
}

// decodeJSONBatch decodes {"macs":[...]} one binding at a time.
func decodeJSONBatch(body io.Reader) (*macBatch, error) {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	tok, err := dec.Token()
	if err != nil {
		return nil, decodeError(err)
	}
	var batch *macBatch
	switch tok {
	case nil: // null decodes to no fields at all, as it always has
	case json.Delim('{'):
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return nil, decodeError(truncated(err))
			}
			// encoding/json matches field names without regard to case.
			if name := key.(string); !strings.EqualFold(name, "macs") {
				return nil, invalid(name, fmt.Sprintf("unknown field %q", name))
			}
			// A repeated "macs" replaces the earlier one, as it always has.
			if batch, err = decodeMACArray(dec); err != nil {
				return nil, err
			}
		}
		if _, err := dec.Token(); err != nil { // the closing '}'
			return nil, decodeError(truncated(err))
		}
	default:
		return nil, invalid("", fmt.Sprintf("request body is a JSON %s; expected an object", tokenKind(tok)))
	}
	switch _, err := dec.Token(); {
	case err == io.EOF:
	case isTooLarge(err):
		return nil, decodeError(err)
	default:
		return nil, invalid("", "request body holds data after its JSON value")
	}
	if batch == nil {
		return nil, invalid("macs", `"macs" is required (an array, may be empty)`)
	}
	return batch, nil
}

// decodeMACArray decodes the value of "macs": an array of bindings, or
// null (nil, as if "macs" were not there).
func decodeMACArray(dec *json.Decoder) (*macBatch, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, decodeError(truncated(err))
	}
	switch tok {
	case nil:
		return nil, nil
	case json.Delim('['):
	default:
		return nil, invalid("macs", fmt.Sprintf("macs is a JSON %s; expected an array", tokenKind(tok)))
	}
	batch := &macBatch{}
	var m MACBinding
	for dec.More() {
		if err := batch.decodeOne(dec, &m); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return nil, decodeError(truncated(err))
	}
	return batch, nil
}

// truncated is err of a read inside the body's JSON value: its end there
// is an unexpected one.
func truncated(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// decodeOne decodes the next binding from dec into m and appends it.
func (b *macBatch) decodeOne(dec *json.Decoder, m *MACBinding) error {
	i := b.Len()
	if i == maxBatchBindings {
		return &apiError{status: http.StatusRequestEntityTooLarge, code: codeBodyTooLarge,
			message: fmt.Sprintf("request body holds more than %d bindings", maxBatchBindings)}
	}
	*m = MACBinding{} // Decode merges into what is there
	if err := dec.Decode(m); err != nil {
		return decodeErrorAt(bindingPath(i), err)
	}
	if m.Origin != "" {
		if err := writableOrigin(bindingPath(i)+".origin", m.Origin); err != nil {
			return err
		}
	}
	b.add(m)
	return nil
}

// bindingPath is the field path of binding i of a batch.
func bindingPath(i int) string { return fmt.Sprintf("macs[%d]", i) }

// tokenKind names, in JSON terms, the kind of value that starts with tok.
func tokenKind(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		if tok == json.Delim('[') {
			return "array"
		}
		return "object"
	case string:
		return "string"
	case float64, json.Number:
		return "number"
	case bool:
		return "bool"
	}
	return "null"
}

// decodeNDJSONBatch decodes one binding per line. At least one is
// required, so that an empty upload cannot clear a connection's set by
// mistake (a JSON {"macs":[]} does that).
func decodeNDJSONBatch(body io.Reader) (*macBatch, error) {
	lines := &lineReader{r: bufio.NewReaderSize(body, 64<<10)}
	// One decoder for every line: lineReader gives it one line at a time.
	dec := json.NewDecoder(lines)
	dec.DisallowUnknownFields()
	batch := &macBatch{}
	var m MACBinding
	for {
		switch more, err := lines.next(); {
		case err != nil:
			return nil, decodeErrorAt(bindingPath(batch.Len()), err)
		case !more:
			if batch.Len() == 0 {
				return nil, invalid("macs", "an NDJSON body holds at least one binding; "+
					`a JSON {"macs":[]} clears a connection's set`)
			}
			return batch, nil
		}
		if err := batch.decodeOne(dec, &m); err != nil {
			return nil, lines.onLine(err)
		}
		// The rest of the line, in the decoder or not yet read, must be
		// blank: one binding per line.
		rest, err := io.ReadAll(io.MultiReader(dec.Buffered(), lines))
		if err != nil {
			return nil, decodeErrorAt(bindingPath(batch.Len()-1), err)
		}
		if len(bytes.TrimSpace(rest)) > 0 {
			return nil, lines.onLine(invalid(bindingPath(batch.Len()-1),
				"an NDJSON line holds more than one JSON value"))
		}
	}
}

// lineReader reads one line of r at a time: Read gives the current line's
// bytes (newline included), then io.EOF until next moves to the next line.
// Lines of any length stream through in pieces.
type lineReader struct {
	r *bufio.Reader
	// piece is what is left of the current line's piece in r's buffer;
	// whole says the line ends with it.
	piece []byte
	whole bool
	eof   bool
	line  int // the current line's number, from 1
}

// onLine adds the current line's number to the message of a 400, whose
// byte offsets, if any, count only the lines that hold bindings.
func (l *lineReader) onLine(err error) error {
	var e *apiError
	if errors.As(err, &e) && e.status == http.StatusBadRequest {
		e.message = fmt.Sprintf("line %d: %s", l.line, e.message)
	}
	return err
}

// next skips blank lines and says whether a line is left. The current
// line must have been read to its end.
func (l *lineReader) next() (bool, error) {
	for !l.eof {
		if err := l.fill(); err != nil {
			return false, err
		}
		if len(bytes.TrimSpace(l.piece)) > 0 || !l.whole {
			return true, nil
		}
		l.piece = nil // a blank line
	}
	return false, nil
}

// fill reads the next piece of a line from r.
func (l *lineReader) fill() error {
	if l.whole || l.line == 0 {
		l.line++ // a new line starts
	}
	piece, err := l.r.ReadSlice('\n')
	switch {
	case err == nil:
		l.whole = true
	case errors.Is(err, bufio.ErrBufferFull):
		l.whole = false
	case err == io.EOF:
		l.whole, l.eof = true, true
	default:
		return err
	}
	l.piece = piece
	return nil
}

// Read reads from the current line, io.EOF at its end.
func (l *lineReader) Read(p []byte) (int, error) {
	for len(l.piece) == 0 {
		if l.whole || l.eof {
			return 0, io.EOF
		}
		if err := l.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, l.piece)
	l.piece = l.piece[n:]
	return n, nil
}
