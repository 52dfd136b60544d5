// Package importer writes mmm topology files for clusters that exist already:
// from MySQL-MMM 2 configuration files (FromMMM) and from a running cluster
// reached through one of its servers (FromLive).
//
// Both build a File, the small model of what the HCL will say, and Render
// turns it into HCL with hclwrite, formatted the way `mmm fmt` formats. What
// cannot be carried over is never dropped silently: it becomes a Finding,
// with the file:line of the MMM configuration it came from. Secrets are never
// written: every password and token is an env("…") reference, and File.Env
// lists the variables to set.
package importer
