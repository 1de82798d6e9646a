"""Thrift compact and binary codecs for the structs linecall exchanges with LINE."""
