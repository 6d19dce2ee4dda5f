package main

import (
	"fmt"
	"io"
	"log/slog"
)

// logFormat is the value of --log-format: how each log record is written.
type logFormat string

// The log formats: slog's key=value text, or one JSON object per line.
const (
	logFormatText logFormat = "text"
	logFormatJSON logFormat = "json"
)

// MarshalText makes logFormat a flag.TextVar value.
func (f logFormat) MarshalText() ([]byte, error) { return []byte(f), nil }

// UnmarshalText accepts text or json, so a wrong value is refused where it
// is read (command line, environment or config file line).
func (f *logFormat) UnmarshalText(b []byte) error {
	switch v := logFormat(b); v {
	case logFormatText, logFormatJSON:
		*f = v
		return nil
	default:
		return fmt.Errorf("log format %q: want text or json", b)
	}
}

// newLogger is the daemon's one logger, writing to w in format from level
// up.
func newLogger(w io.Writer, format logFormat, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == logFormatJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
