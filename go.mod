module github.com/s3coord/coord

go 1.26.0
