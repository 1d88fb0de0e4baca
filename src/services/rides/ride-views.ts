/**
 * The JSON shapes of rides (SPEC §3). Ride details carry `sourceName`/`destinationName` beside
 * the numbers when an areas file is configured and names the area; the spec's fields are always
 * there and never change type.
 */
import type { AreaNames } from './area-names.ts';
import type { Ride } from './rides-store.ts';
import { formatTimestamp } from './timestamp.ts';

export interface RideListEntry {
  rideId: number;
  username: string;
  timestamp: string;
}

export interface RideDetails {
  rideId: number;
  created_by: string;
  users: string[];
  timestamp: string;
  source: number;
  destination: number;
  sourceName?: string;
  destinationName?: string;
}

export function listEntry(ride: Ride): RideListEntry {
  return { rideId: ride.rideId, username: ride.createdBy, timestamp: formatTimestamp(ride.timestamp) };
}

export function rideDetails(ride: Ride, members: string[], names: AreaNames): RideDetails {
  const details: RideDetails = {
    rideId: ride.rideId,
    created_by: ride.createdBy,
    users: members,
    timestamp: formatTimestamp(ride.timestamp),
    source: ride.source,
    destination: ride.destination,
  };
  const sourceName = names.get(ride.source);
  const destinationName = names.get(ride.destination);
  if (sourceName !== undefined) details.sourceName = sourceName;
  if (destinationName !== undefined) details.destinationName = destinationName;
  return details;
}
