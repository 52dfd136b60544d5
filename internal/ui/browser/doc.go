// Package browser holds the status page's browser test: headless Chromium
// against a watch on a lab of real servers (lab subnet 198.18.14.0/24). It
// has no code of its own; the test is in browser_test.go.
package browser
