// Command app is the CDK app cdk.json runs: it validates the config and
// synthesizes the greenlight stack. The config file comes from the CDK
// context value "config" (default greenlight.json, else the example), the
// Lambda asset from "asset" (default build/bootstrap.zip).
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/greenlight/greenlight/infra"
	"github.com/greenlight/greenlight/internal/release"
)

func main() {
	defer jsii.Close()
	probe := awscdk.NewApp(nil)
	path := contextString(probe, "config", release.DefaultConfigPath())
	asset := contextString(probe, "asset", infra.DefaultAsset)
	cfg, err := release.LoadConfig(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if _, err := os.Stat(asset); err != nil {
		fmt.Fprintf(os.Stderr, "Lambda asset %s is missing: run `make build` first\n", asset)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "greenlight: stack %s from %s\n", cfg.StackName, path)
	app, _ := infra.NewApp("", infra.Props{Config: cfg, Asset: asset, Env: infra.EnvFor(cfg)})
	app.Synth(nil)
}

func contextString(app awscdk.App, key, def string) string {
	if v, ok := app.Node().TryGetContext(jsii.String(key)).(string); ok && v != "" {
		return v
	}
	return def
}
