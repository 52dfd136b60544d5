//go:build !unix

package command

import "os/exec"

// Without process groups only the program itself is killed at the timeout.
func ownGroup(cmd *exec.Cmd) {}

func killGroup(cmd *exec.Cmd) {}

func signalOf(e *exec.ExitError) string { return "unknown" }
