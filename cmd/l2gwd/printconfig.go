package main

import (
	"flag"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"
)

// writeYAML writes the effective configuration for --print-config: every
// key of the config file with its value and, as a comment, where the value
// came from. The output is a valid config file. It holds no secret, as no
// flag's value is one (see config).
func (s *sources) writeYAML(w io.Writer) error {
	file := "none"
	if s.file != "" {
		file = fmt.Sprintf("%s (%s)", s.file, s.origin[flagConfig])
	}
	m := &yaml.Node{Kind: yaml.MappingNode, HeadComment: "l2gwd's effective configuration (l2gwd --print-config), a valid --config file.\n" +
		"Precedence: command line (flag) > environment (env) > config file (file) > default.\n" +
		"Config file: " + file}
	s.flags.VisitAll(func(f *flag.Flag) {
		if !inFile(f.Name) {
			return
		}
		tag, _ := valueType(f)
		m.Content = append(m.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: f.Name},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: f.Value.String(), LineComment: s.origin[f.Name]})
	})
	enc := yaml.NewEncoder(w)
	if err := enc.Encode(m); err != nil {
		return fmt.Errorf("print the configuration: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("print the configuration: %w", err)
	}
	return nil
}
