"""Tests of the Mantle side: the ported payment and order rules, their REST paths and RemoteMantleSide."""
