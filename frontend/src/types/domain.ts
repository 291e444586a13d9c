/** Types of the API, from the generated OpenAPI schema plus the annotation contract not yet in it. */
import type { components } from "@/types/api";

export type Project = components["schemas"]["Project"];
export type Case = components["schemas"]["Case"];
export type Volume = components["schemas"]["Volume"];
export type Job = components["schemas"]["Job"];

export interface Structure {
  value: number;
  name: string;
  color: string;
}

export interface Me {
  username: string;
  is_staff: boolean;
  roles: Record<string, string>;
}

export interface Page<T> {
  count: number;
  results: T[];
}

export type Draft = components["schemas"]["Draft"];
export type LabelVersion = components["schemas"]["LabelVersion"];
export type NextCase = components["schemas"]["NextCase"];
export type AdjudicationMethod = components["schemas"]["MethodEnum"];
