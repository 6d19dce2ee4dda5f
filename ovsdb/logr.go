package ovsdb

import (
	"log/slog"

	"github.com/go-logr/logr"
)

// LibovsdbLogger routes libovsdb's logr output into slog, for every libovsdb
// client l2gwd runs (this package's, and package vtep's). libovsdb logs its
// routine chatter at V(1) and above, which is dropped; errors (such as a
// failed reconnection attempt) and its few level-0 notices (a dropped cache
// event) get through.
func LibovsdbLogger(log *slog.Logger) logr.Logger {
	return logr.New(slogSink{log: log.With("component", "libovsdb")})
}

// slogSink is a logr.LogSink that forwards to slog.
type slogSink struct{ log *slog.Logger }

func (s slogSink) Init(logr.RuntimeInfo) {}

func (s slogSink) Enabled(level int) bool { return level == 0 }

func (s slogSink) Info(_ int, msg string, kv ...any) { s.log.Warn(msg, kv...) }

func (s slogSink) Error(err error, msg string, kv ...any) {
	s.log.Error(msg, append(kv, "err", err)...)
}

func (s slogSink) WithValues(kv ...any) logr.LogSink { return slogSink{log: s.log.With(kv...)} }

func (s slogSink) WithName(name string) logr.LogSink {
	return slogSink{log: s.log.With("logger", name)}
}
