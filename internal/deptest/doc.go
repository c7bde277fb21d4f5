// Package deptest holds only a test: it enforces the direction of imports
// (cmd -> cli -> hubd -> domain) and keeps pure packages off the network
// stack. It has no code of its own.
package deptest
