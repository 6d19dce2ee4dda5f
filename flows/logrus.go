package flows

import (
	"context"
	"io"
	"log/slog"
	"sync"

	"github.com/sirupsen/logrus"
)

// routeLibraryLogs sends what ofctrl and libOpenflow log through logrus into
// log (the first logger given wins: logrus is process-global). Only warnings
// and worse pass: the libraries log every connection and message at info and
// debug level.
func routeLibraryLogs(log *slog.Logger) {
	logrusOnce.Do(func() {
		logrus.SetOutput(io.Discard)
		logrus.SetLevel(logrus.WarnLevel)
		logrus.AddHook(&slogHook{log: log.With("lib", "ofctrl")})
	})
}

var logrusOnce sync.Once

// slogHook forwards logrus entries to an slog.Logger at the matching level.
type slogHook struct {
	log *slog.Logger
}

// Levels says which entries the hook receives: all of them; logrus' own level
// filters first.
func (h *slogHook) Levels() []logrus.Level { return logrus.AllLevels }

// Fire logs one logrus entry with its fields.
func (h *slogHook) Fire(e *logrus.Entry) error {
	attrs := make([]slog.Attr, 0, len(e.Data))
	for k, v := range e.Data {
		attrs = append(attrs, slog.Any(k, v))
	}
	h.log.LogAttrs(context.Background(), slogLevel(e.Level), e.Message, attrs...)
	return nil
}

func slogLevel(l logrus.Level) slog.Level {
	switch {
	case l <= logrus.ErrorLevel: // panic, fatal, error
		return slog.LevelError
	case l == logrus.WarnLevel:
		return slog.LevelWarn
	case l == logrus.InfoLevel:
		return slog.LevelInfo
	default: // debug, trace
		return slog.LevelDebug
	}
}
