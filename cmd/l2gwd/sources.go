package main

import (
	"flag"
	"fmt"
	"strings"
)

// The flags about the configuration itself. --config is no key of the
// config file (nor of --print-config's output); --print-config is read from
// the command line only, so no environment can make a daemon print and exit.
const (
	flagConfig      = "config"
	flagPrintConfig = "print-config"
)

// Where a value came from, as --print-config shows it; an environment
// variable is shown as originEnv followed by its name.
const (
	originFlag    = "flag"
	originEnv     = "env "
	originFile    = "file"
	originDefault = "default"
)

// inFile tells whether the flag name is a key of the config file.
func inFile(name string) bool { return name != flagConfig && name != flagPrintConfig }

// inEnv tells whether the flag name may be set by the environment.
func inEnv(name string) bool { return name != flagPrintConfig }

// envName is the environment variable of a flag: L2GW_ and the name in
// upper case, dashes as underscores.
func envName(flagName string) string {
	return "L2GW_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// sources records where each flag's value came from.
type sources struct {
	flags  *flag.FlagSet
	origin map[string]string // flag name → originFlag, originEnv+NAME, originFile or originDefault
	file   string            // the config file read; "" for none
}

// applySources gives every flag of fs (already parsed from the command
// line) that the command line did not set its value from the environment
// (getenv), or else from the config file that --config or L2GW_CONFIG
// names, or else leaves its default: each flag is set at most once, by the
// source that wins. check is a second flag set with the same flags: every
// value from the environment and the file is tried on it first, so a wrong
// one is refused even where a source that wins hides it.
func applySources(fs, check *flag.FlagSet, getenv func(string) string) (*sources, error) {
	s := &sources{flags: fs, origin: make(map[string]string)}
	fs.Visit(func(f *flag.Flag) { s.origin[f.Name] = originFlag })
	env, err := readEnv(check, getenv)
	if err != nil {
		return nil, err
	}
	// The file's own name comes from the command line or the environment.
	if err := s.apply(fs.Lookup(flagConfig), env, nil); err != nil {
		return nil, err
	}
	var file map[string]fileValue
	if s.file = fs.Lookup(flagConfig).Value.String(); s.file != "" {
		if file, err = readConfigFile(s.file, check); err != nil {
			return nil, err
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if err == nil && f.Name != flagConfig {
			err = s.apply(f, env, file)
		}
	})
	return s, err
}

// readEnv returns the flag values the environment gives, by flag name,
// each checked on the flag set check.
func readEnv(check *flag.FlagSet, getenv func(string) string) (map[string]string, error) {
	env := make(map[string]string)
	var err error
	check.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		v := getenv(name)
		if err != nil || v == "" || !inEnv(f.Name) {
			return
		}
		if setErr := check.Set(f.Name, v); setErr != nil {
			err = fmt.Errorf("environment %s=%q: %w", name, v, setErr)
			return
		}
		env[f.Name] = v
	})
	return env, err
}

// apply sets the flag f from the source that wins, unless the command line
// set it already, and records that source.
func (s *sources) apply(f *flag.Flag, env map[string]string, file map[string]fileValue) error {
	if _, onCommandLine := s.origin[f.Name]; onCommandLine {
		return nil
	}
	if v, ok := env[f.Name]; ok {
		s.origin[f.Name] = originEnv + envName(f.Name)
		if err := s.flags.Set(f.Name, v); err != nil {
			return fmt.Errorf("environment %s=%q: %w", envName(f.Name), v, err)
		}
		return nil
	}
	if v, ok := file[f.Name]; ok {
		s.origin[f.Name] = originFile
		if err := s.flags.Set(f.Name, v.text); err != nil {
			return fmt.Errorf("%s:%d: key %q: %w", s.file, v.line, f.Name, err)
		}
		return nil
	}
	s.origin[f.Name] = originDefault
	return nil
}

// valueType is how a flag's values read in YAML: the tag they print with
// ("!!str" for any text the flag parses itself) and, for the scalar types of
// package flag, what a valid value looks like.
func valueType(f *flag.Flag) (tag, want string) {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return "!!str", ""
	}
	switch g.Get().(type) {
	case bool:
		return "!!bool", "true or false"
	case int, int64:
		return "!!int", "an integer"
	case uint, uint64:
		return "!!int", "a whole number (0 or more)"
	}
	return "!!str", ""
}
