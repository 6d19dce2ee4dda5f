package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// fileValue is one value of the config file: its text, as it would be
// given on the command line, and its line.
type fileValue struct {
	text string
	line int
}

// readConfigFile reads the YAML config file at path: one mapping whose keys
// are flag names of check, each given once, each with one value that the
// flag accepts (tried on check). Its errors name the file, the line and the
// key. An empty file sets nothing.
func readConfigFile(path string, check *flag.FlagSet) (map[string]fileValue, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		return nil, fmt.Errorf("%s:%d: a second YAML document: the config file is one mapping of flag names to values", path, next.Line)
	} else if !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: want a mapping of flag names to values, such as \"tunnel-ip: 198.51.100.1\"", path, root.Line)
	}
	values := make(map[string]fileValue)
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, value := root.Content[i], root.Content[i+1]
		name, v, err := fileEntry(check, key, value)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, key.Line, err)
		}
		if first, ok := values[name]; ok {
			return nil, fmt.Errorf("%s:%d: key %q given twice (first on line %d)", path, key.Line, name, first.line)
		}
		values[name] = fileValue{text: v, line: key.Line}
	}
	return values, nil
}

// fileEntry checks one key and value of the config file against the flag
// set check and returns the flag name and its value's text.
func fileEntry(check *flag.FlagSet, key, value *yaml.Node) (name, text string, err error) {
	if key.Kind != yaml.ScalarNode {
		return "", "", errors.New("want a flag name as the key")
	}
	name = key.Value
	f := check.Lookup(name)
	if f == nil || !inFile(name) {
		return "", "", unknownKey(check, name)
	}
	if value.Kind == yaml.AliasNode {
		value = value.Alias
	}
	switch {
	case value.Kind != yaml.ScalarNode:
		return "", "", fmt.Errorf("key %q: want one value, not a list or a mapping", name)
	case value.Tag == "!!null":
		return "", "", fmt.Errorf("key %q has no value: give one (\"\" for an empty text) or remove the line", name)
	}
	if err := check.Set(name, value.Value); err != nil {
		if _, want := valueType(f); want != "" {
			return "", "", fmt.Errorf("key %q: %q is not %s: %w", name, value.Value, want, err)
		}
		return "", "", fmt.Errorf("key %q: %w", name, err)
	}
	return name, value.Value, nil
}

// unknownKey is the error for a key that is no flag of fs (or not one the
// file may set), with a guess when the key is a flag name misspelt as
// --flag, FLAG or flag_name.
func unknownKey(fs *flag.FlagSet, key string) error {
	switch key {
	case flagConfig:
		return fmt.Errorf("key %q: a config file cannot name another; give --config or L2GW_CONFIG", key)
	case flagPrintConfig:
		return fmt.Errorf("key %q: --print-config is for the command line only", key)
	}
	msg := fmt.Sprintf("unknown key %q: the keys are l2gwd's flag names (l2gwd --help)", key)
	guess := strings.ToLower(strings.ReplaceAll(strings.TrimLeft(key, "-"), "_", "-"))
	if guess != key && fs.Lookup(guess) != nil && inFile(guess) {
		msg += fmt.Sprintf("; did you mean %q?", guess)
	}
	return errors.New(msg)
}
