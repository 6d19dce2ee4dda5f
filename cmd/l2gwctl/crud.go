package main

import (
	"flag"
	"net/http"
	"net/url"
)

// kind describes a resource the API keeps by name in one collection
// (networks, remote gateways, BGP peers, connections): how to reach it, how
// to build one (a T) from flags and how to show one the API answers (an A:
// the same type, but for BGP peers).
type kind[T, A any] struct {
	resource string // the CLI's word, e.g. "gateway"
	summary  string
	path     string // the collection, e.g. "/v1/remote-gateways"
	listKey  string // key of the list in the collection's GET answer
	columns  []string
	row      func(A) []string
	// spec declares the flags that describe an object and returns the
	// function that builds the object named name from them.
	spec     func(fs *flag.FlagSet) func(name string) T
	synopsis string   // the spec flags, as usage shows them
	required []string // spec flags that must be given
	update   bool     // PUT on an object's path replaces it
}

// commands returns the resource with the verbs list, show, create, update
// (if the kind has it) and delete.
func (k kind[T, A]) commands() resource {
	at := func(name string) string { return k.path + "/" + url.PathEscape(name) }
	write := func(name, method, done string, path func(string) string) verb {
		return verb{name: name, synopsis: "NAME " + k.synopsis, nargs: 1, required: k.required,
			setup: func(fs *flag.FlagSet) func([]string) (request, error) {
				build := k.spec(fs)
				return func(args []string) (request, error) {
					return request{method: method, path: path(args[0]), body: build(args[0]),
						show: said("%s %s %s", done, k.resource, args[0])}, nil
				}
			}}
	}
	verbs := []verb{
		{name: "list", setup: fixed(func([]string) request {
			return request{method: http.MethodGet, path: k.path, show: showList(k.listKey, k.columns, k.row)}
		})},
		{name: "show", synopsis: "NAME", nargs: 1, setup: fixed(func(args []string) request {
			return request{method: http.MethodGet, path: at(args[0]), show: showOne(k.columns, k.row)}
		})},
		write("create", http.MethodPost, "created", func(string) string { return k.path }),
	}
	if k.update {
		verbs = append(verbs, write("update", http.MethodPut, "updated", at))
	}
	verbs = append(verbs, verb{name: "delete", synopsis: "NAME", nargs: 1, setup: fixed(func(args []string) request {
		return request{method: http.MethodDelete, path: at(args[0]), show: said("deleted %s %s", k.resource, args[0])}
	})})
	return resource{name: k.resource, summary: k.summary, verbs: verbs}
}
