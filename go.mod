module github.com/socketfleet/socketfleet

go 1.26
