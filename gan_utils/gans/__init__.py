"""gans"""
