"""encoding/batch"""
