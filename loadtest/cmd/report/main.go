// Command report turns the results of a load-test matrix into a table of
// each scenario's figures against the sample and the floor, their ratio,
// and the budgets of docs/architecture.md#budgets.
//
//	report -in DIR -mode quick -md latest.md -json latest.json
//
// DIR holds <scenario>-sample.json and <scenario>-floor.json, as written by
// phxload -json, or <scenario>-sample-1.json and so on for repeated runs,
// of which the table shows the median. cluster-fanout compares
// cluster-fanout-cluster*.json (a fanout over the nodes of a cluster) with
// cluster-fanout-single*.json (the same on one sample process), in a table
// of its own with each node's share below it; cluster-room is the same for
// a small room at a high rate. storm has three targets: sample (with
// presence) and nopresence, each against floor. The machine (processors,
// memory, kernel, Go version) is read by report itself, which
// run-matrix.sh builds with the same toolchain as everything else.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/phxgo/phx/loadtest/internal/result"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fl := flag.NewFlagSet("report", flag.ContinueOnError)
	in := fl.String("in", ".", "folder of <scenario>-{sample,floor}.json and cluster-fanout-{cluster,single}.json")
	mode := fl.String("mode", "quick", "what kind of run it was, for the heading")
	mdPath := fl.String("md", "", "write the markdown table here (default: stdout)")
	jsonPath := fl.String("json", "", "write the whole report as JSON here")
	if err := fl.Parse(args); err != nil {
		return err
	}

	rep := Report{Mode: *mode, Date: time.Now().UTC().Format(time.RFC3339), Machine: readMachine(), Runs: map[string]map[string][]*Result{}}
	for _, sc := range scenarios {
		for _, target := range sc.targets {
			if rep.Runs[sc.name][target] != nil {
				continue // a target two pairs of the scenario share
			}
			// <scenario>-<target>.json, or -1.json, -2.json … for repeated runs.
			paths, err := filepath.Glob(filepath.Join(*in, sc.name+"-"+target+"*.json"))
			if err != nil {
				return err
			}
			for _, path := range paths {
				res, err := readResult(path)
				if err != nil {
					return err
				}
				if rep.Runs[sc.name] == nil {
					rep.Runs[sc.name] = map[string][]*Result{}
				}
				rep.Runs[sc.name][target] = append(rep.Runs[sc.name][target], res)
			}
		}
	}
	if len(rep.Runs) == 0 {
		return fmt.Errorf("no results in %s", *in)
	}
	rep.Rows = rows(rep.Runs)

	md := rep.markdown()
	if *mdPath == "" {
		fmt.Print(md)
	} else if err := os.WriteFile(*mdPath, []byte(md), 0o644); err != nil {
		return err
	}
	if *jsonPath != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonPath, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Result is a phxload run.
type Result = result.Result

// Metric is one figure of a run.
type Metric = result.Metric

func readResult(path string) (*Result, error) {
	r, err := result.Read(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}
