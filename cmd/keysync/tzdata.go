package main

// The container image is built FROM scratch and has no /usr/share/zoneinfo,
// so without an embedded copy a schedule such as
// "CRON_TZ=Europe/Berlin 0 3 * * *" fails with "unknown time zone". Go uses
// the system's zoneinfo when there is one and falls back to this copy (about
// 450 kB in the binary); the image test in deploy/image proves it.
import _ "time/tzdata"
